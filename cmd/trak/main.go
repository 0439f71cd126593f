// Command trak computes TRAK data-attribution scores: which training
// examples are responsible for a model's behaviour on a target example.
//
// Run `trak --help` for the commands.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], systemIO())) }
