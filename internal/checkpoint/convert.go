package checkpoint

import (
	"encoding/binary"
	"math"

	"github.com/x448/float16"
)

// element returns element i of little-endian raw data of type d as float32.
func element(raw []byte, d DType, i int) float32 {
	le := binary.LittleEndian
	switch d {
	case F32:
		return math.Float32frombits(le.Uint32(raw[4*i:]))
	case F16:
		return float16.Frombits(le.Uint16(raw[2*i:])).Float32()
	case BF16:
		return math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
	case F64:
		return float32(math.Float64frombits(le.Uint64(raw[8*i:])))
	case I64:
		return float32(int64(le.Uint64(raw[8*i:])))
	case I32:
		return float32(int32(le.Uint32(raw[4*i:])))
	case I16:
		return float32(int16(le.Uint16(raw[2*i:])))
	case I8:
		return float32(int8(raw[i]))
	case U8:
		return float32(raw[i])
	case Bool:
		if raw[i] != 0 {
			return 1
		}
		return 0
	}
	return float32(math.NaN())
}

// convert fills dst with the first len(dst) elements of raw.
func convert(dst []float32, raw []byte, d DType) {
	le := binary.LittleEndian
	switch d {
	case F32:
		raw = raw[:4*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case F16:
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = float16.Frombits(le.Uint16(raw[2*i:])).Float32()
		}
	case BF16:
		raw = raw[:2*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	default:
		for i := range dst {
			dst[i] = element(raw, d, i)
		}
	}
}

// convertStrided fills dst, in C order over shape, with the elements of raw
// at the given element strides.
func convertStrided(dst []float32, raw []byte, d DType, shape, strides []int) {
	if len(dst) == 0 {
		return
	}
	nd := len(shape)
	idx := make([]int, nd)
	inner, innerStride := shape[nd-1], strides[nd-1]
	off := 0 // element offset of idx[:nd-1] with idx[nd-1] == 0
	for o := 0; o < len(dst); o += inner {
		for j := range inner {
			dst[o+j] = element(raw, d, off+j*innerStride)
		}
		// Advance the outer dimensions like an odometer.
		for k := nd - 2; k >= 0; k-- {
			idx[k]++
			off += strides[k]
			if idx[k] < shape[k] {
				break
			}
			off -= idx[k] * strides[k]
			idx[k] = 0
		}
	}
}
