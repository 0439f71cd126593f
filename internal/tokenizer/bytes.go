package tokenizer

// printableByte reports whether byte b is its own byte symbol: the
// printable ASCII and Latin-1 characters except space and the soft hyphen.
func printableByte(b int) bool {
	return '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF
}

// symbolOrder returns the 256 bytes in vocabulary order: the printable
// bytes in increasing order, then the others in increasing order.
func symbolOrder() []byte {
	order := make([]byte, 0, 256)
	for b := 0; b < 256; b++ {
		if printableByte(b) {
			order = append(order, byte(b))
		}
	}
	for b := 0; b < 256; b++ {
		if !printableByte(b) {
			order = append(order, byte(b))
		}
	}
	return order
}

// byteRunes returns each byte's symbol: the byte as a code point when it
// is printable, else U+0100 + n for the n-th non-printable byte.
func byteRunes() [256]rune {
	var r [256]rune
	n := rune(0)
	for b := 0; b < 256; b++ {
		if printableByte(b) {
			r[b] = rune(b)
		} else {
			r[b] = 0x100 + n
			n++
		}
	}
	return r
}

// byteSymbols returns each byte's symbol as a string.
func byteSymbols() [256]string {
	var s [256]string
	for b, r := range byteRunes() {
		s[b] = string(r)
	}
	return s
}

// symbolBytes maps a byte symbol (a code point below 0x144) back to its
// byte; other code points map to -1.
var symbolBytes = func() [0x144]int16 {
	var m [0x144]int16
	for i := range m {
		m[i] = -1
	}
	for b, r := range byteRunes() {
		m[r] = int16(b)
	}
	return m
}()
