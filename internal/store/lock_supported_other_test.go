//go:build !unix

package store

const lockSupported = false
