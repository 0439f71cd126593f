//go:build unix

package store

const lockSupported = true
