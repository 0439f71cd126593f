package imageprep

import (
	"bytes"
	"image/jpeg"
	"path/filepath"
	"testing"
)

// benchJPEG is a 1000×750 photo (a fixture enlarged) encoded as a 4:2:0
// JPEG at quality 90, a typical web image.
func benchJPEG(b *testing.B) []byte {
	b.Helper()
	img, err := DecodeFile(filepath.Join("testdata", "in", "photo_coffee.jpg"), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	big := Resize(ToRGB(img), 1000, 750)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, big, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func reportImages(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkDecodeJPEG: decoding alone (Go's image/jpeg plus the libjpeg-style
// colour conversion).
func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data), "bench", DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	reportImages(b)
}

// BenchmarkPreprocess: a decoded 1000×750 image to the 3×224×224 tensor.
func BenchmarkPreprocess(b *testing.B) {
	img, err := Decode(bytes.NewReader(benchJPEG(b)), "bench", DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*224*224)
	for b.Loop() {
		Preprocess(img, 224, dst)
	}
	reportImages(b)
}

// BenchmarkDecodePreprocess: JPEG bytes to tensor, one goroutine.
func BenchmarkDecodePreprocess(b *testing.B) {
	data := benchJPEG(b)
	dst := make([]float32, 3*224*224)
	for b.Loop() {
		img, err := Decode(bytes.NewReader(data), "bench", DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		Preprocess(img, 224, dst)
	}
	reportImages(b)
}

// BenchmarkDecodePreprocessParallel: the same on all GOMAXPROCS cores.
func BenchmarkDecodePreprocessParallel(b *testing.B) {
	data := benchJPEG(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]float32, 3*224*224)
		for pb.Next() {
			img, err := Decode(bytes.NewReader(data), "bench", DecodeOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			Preprocess(img, 224, dst)
		}
	})
	reportImages(b)
}

// BenchmarkStdlibJPEGDecode: Go's image/jpeg alone, the baseline that
// BenchmarkDecodeJPEG adds the colour conversion to.
func BenchmarkStdlibJPEGDecode(b *testing.B) {
	data := benchJPEG(b)
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	reportImages(b)
}
