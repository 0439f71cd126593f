package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxPickleObjects bounds the opcodes of a pickle that build containers or
// call constructors, each of which costs the unpickler a few hundred bytes.
// A state dict needs fewer than ten per tensor.
const maxPickleObjects = 1 << 21

// Argument layouts of pickle opcodes.
const (
	argNone   = iota + 1
	argFixed  // a fixed number of bytes (width)
	argLine   // one newline-terminated line
	argLines  // two newline-terminated lines
	argLen1   // 1-byte length, then that many bytes
	argLen4   // 4-byte little-endian length, then that many bytes
	argLen8   // 8-byte little-endian length, then that many bytes
	argFrame  // 8-byte frame length; the frame's opcodes follow
	argProto  // 1-byte protocol number
	argStop   // end of the pickle
	argObject // no argument, but builds an object (counted)
)

type opInfo struct {
	layout uint8
	width  uint8
}

// pickleOps describes every opcode of pickle protocols 0 to 5.
var pickleOps = func() [256]opInfo {
	var t [256]opInfo
	set := func(layout, width uint8, ops string) {
		for i := 0; i < len(ops); i++ {
			t[ops[i]] = opInfo{layout, width}
		}
	}
	set(argNone, 0, "012NQ\x88\x89\x94\x97\x98")
	set(argObject, 0, "(Rabde}lo]stu)\x81\x85\x86\x87\x8f\x90\x91\x92\x93")
	set(argFixed, 1, "Khq\x82")
	set(argFixed, 2, "M\x83")
	set(argFixed, 4, "Jjr\x84")
	set(argFixed, 8, "G")
	set(argLine, 0, "FILSVgpP")
	set(argLines, 0, "ci")
	set(argLen1, 0, "UC\x8c\x8a")
	set(argLen4, 0, "TBX\x8b")
	set(argLen8, 0, "\x8d\x8e\x96")
	set(argFrame, 0, "\x95")
	set(argProto, 0, "\x80")
	set(argStop, 0, ".")
	return t
}()

// scanPickle walks the opcodes of p up to STOP without running them, and
// refuses what the unpickler handles badly: unknown opcodes, lengths that
// run past the end of the data (the unpickler allocates them before
// reading), more objects than maxPickleObjects, and data that ends without
// STOP.
func scanPickle(p []byte) error {
	objects := 0
	for i := 0; i < len(p); {
		op := p[i]
		at := i
		i++
		info := pickleOps[op]
		rest := len(p) - i
		truncated := fmt.Errorf("pickle truncated in opcode 0x%02x at offset %d", op, at)
		switch info.layout {
		case argNone:
		case argObject:
			if objects++; objects > maxPickleObjects {
				return fmt.Errorf("pickle builds more than %d objects", maxPickleObjects)
			}
		case argFixed:
			if rest < int(info.width) {
				return truncated
			}
			i += int(info.width)
		case argLine, argLines:
			lines := 1
			if info.layout == argLines {
				lines = 2
			}
			for range lines {
				nl := bytes.IndexByte(p[i:], '\n')
				if nl < 0 {
					return truncated
				}
				i += nl + 1
			}
		case argLen1:
			if rest < 1 || rest-1 < int(p[i]) {
				return truncated
			}
			i += 1 + int(p[i])
		case argLen4:
			if rest < 4 {
				return truncated
			}
			n := binary.LittleEndian.Uint32(p[i:])
			if n > uint32(rest-4) {
				return truncated
			}
			i += 4 + int(n)
		case argLen8, argFrame:
			if rest < 8 {
				return truncated
			}
			n := binary.LittleEndian.Uint64(p[i:])
			if n > uint64(rest-8) {
				return truncated
			}
			i += 8
			if info.layout == argLen8 {
				i += int(n)
			}
		case argProto:
			if rest < 1 {
				return truncated
			}
			if p[i] > 5 {
				return fmt.Errorf("unsupported pickle protocol %d", p[i])
			}
			i++
		case argStop:
			return nil
		default:
			return fmt.Errorf("unknown pickle opcode 0x%02x at offset %d", op, at)
		}
	}
	return errors.New("pickle ends without a STOP opcode")
}
