package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/tokenizer"
)

// TokenizeOptions is what `trak tokenize` runs with.
type TokenizeOptions struct {
	IO            *IOStreams
	Captions      []string // from arguments; nil reads stdin
	ContextLength int
	Out           string // .npy path; "" prints TSV
	VocabDir      string // HF vocab.json + merges.txt; "" uses the built-in CLIP vocabulary
	Trim          bool
}

func newCmdTokenize(io *IOStreams, runF func(context.Context, *TokenizeOptions) error) *cobra.Command {
	opts := &TokenizeOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "tokenize [caption...]",
		Short: "Turn captions into CLIP token ids",
		Long: heredoc(`
			Tokenize captions exactly as the model sees them: CLIP's byte-pair encoding
			after text cleaning (unicode repair, HTML unescaping, white space, lower
			case), wrapped in start and end tokens, cut to the context length (the last
			kept id becomes the end token) and padded with 0.

			Captions come from the arguments, or one per line from stdin. They must be
			valid UTF-8, as featurize requires: other text is an error naming the
			argument or line. Output is one line per caption with its context-length ids
			separated by tabs (--trim drops the padding), or with --out a T × context
			int64 .npy file.
		`),
		Example: examples(`
			$ trak tokenize "a photo of a cat"
			$ cut -f2 captions.tsv | trak tokenize --out tokens.npy
			$ trak tokenize --vocab-dir ./model --context-length 64 "a dog"
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.ContextLength < 1 {
				return usageErrorf("--context-length must be at least 1, got %d", opts.ContextLength)
			}
			if len(args) > 0 {
				opts.Captions = args
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenizeRun(opts)
		},
	}
	cmd.Flags().IntVar(&opts.ContextLength, "context-length", 77, "Tokens per caption, start and end included")
	cmd.Flags().StringVar(&opts.Out, "out", "", "Write a T × context int64 .npy `file` instead of text")
	cmd.Flags().StringVar(&opts.VocabDir, "vocab-dir", "", "Folder with a Hugging Face vocab.json and merges.txt (default: the built-in CLIP vocabulary)")
	cmd.Flags().BoolVar(&opts.Trim, "trim", false, "Leave out the padding zeros in text output")
	return cmd
}

func tokenizeRun(opts *TokenizeOptions) error {
	tok, err := tokenizer.Open(opts.VocabDir)
	if err != nil {
		return err
	}
	captions := opts.Captions
	where := func(i int) string { return fmt.Sprintf("caption argument %d", i+1) }
	if captions == nil {
		if captions, err = readLines(opts.IO.In); err != nil {
			return fmt.Errorf("read captions from stdin: %w", err)
		}
		where = func(i int) string { return fmt.Sprintf("stdin line %d", i+1) }
	}
	if err := checkCaptions(captions, where); err != nil {
		return err
	}
	if opts.Out != "" {
		data := make([]byte, 0, len(captions)*opts.ContextLength*8)
		for _, c := range captions {
			for _, id := range tok.Tokenize(c, opts.ContextLength) {
				data = binary.LittleEndian.AppendUint64(data, uint64(int64(id)))
			}
		}
		h := npy.Header{DType: npy.Int64, Shape: []int{len(captions), opts.ContextLength}}
		if err := npy.WriteFile(opts.Out, h, data); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "%d captions → %s (%d × %d int64)\n", len(captions), opts.Out, len(captions), opts.ContextLength)
		return nil
	}
	w := bufio.NewWriter(opts.IO.Out)
	for _, c := range captions {
		ids := tok.Tokenize(c, opts.ContextLength)
		if opts.Trim {
			for len(ids) > 0 && ids[len(ids)-1] == 0 {
				ids = ids[:len(ids)-1]
			}
		}
		for i, id := range ids {
			if i > 0 {
				w.WriteByte('\t')
			}
			w.WriteString(strconv.Itoa(int(id)))
		}
		w.WriteByte('\n')
	}
	return w.Flush()
}

// checkCaptions applies featurize's rule for captions to the ones given:
// text that is not valid UTF-8 is refused (the tokenizer would quietly turn
// its stray bytes into U+FFFD), so that tokenize never shows ids for a
// caption that featurize rejects as a bad example. where names caption i.
func checkCaptions(captions []string, where func(i int) string) error {
	for i, c := range captions {
		if _, err := dataset.CleanCaption(c); !errors.Is(err, dataset.ErrCaptionNotUTF8) {
			continue
		}
		at := 0
		for at < len(c) {
			r, size := utf8.DecodeRuneInString(c[at:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			at += size
		}
		return fmt.Errorf("%s: %w (byte %d is 0x%02x), and featurize refuses such a caption as a bad example; convert the text to UTF-8 (for Latin-1: iconv -f latin1 -t utf-8)",
			where(i), dataset.ErrCaptionNotUTF8, at+1, c[at])
	}
	return nil
}

// readLines reads lines without their line endings; a final empty line
// after the last newline is not a caption.
func readLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<26)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	return lines, sc.Err()
}
