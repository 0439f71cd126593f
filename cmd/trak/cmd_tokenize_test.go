package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenizeCaptions: tokenize accepts and refuses the captions
// featurize does. Text that is not UTF-8 used to be tokenized (its stray
// bytes turned into U+FFFD) although featurize refuses it as a bad example;
// it is now an error naming the argument or stdin line and the byte.
func TestTokenizeCaptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string // nil: stdin
		stdin   string
		want    string // stdout, with --trim
		wantErr []string
	}{
		{name: "arguments", args: []string{"a cat", "  a cat \t"}, want: "49406\t320\t2368\t49407\n49406\t320\t2368\t49407\n"},
		{name: "stdin, CRLF", stdin: "a cat\r\na cat\n", want: "49406\t320\t2368\t49407\n49406\t320\t2368\t49407\n"},
		{name: "valid multi-byte UTF-8", args: []string{"café"}, want: "49406\t15304\t49407\n"},
		{name: "Latin-1 argument", args: []string{"ok", "caf\xe9"}, wantErr: []string{"caption argument 2", "not valid UTF-8", "byte 4 is 0xe9", "iconv"}},
		{name: "Latin-1 stdin line", stdin: "ok\nfine\n\xff\xfe cat\n", wantErr: []string{"stdin line 3", "byte 1 is 0xff"}},
		{name: "truncated sequence at the end", stdin: "ok\ncaf\xc3\n", wantErr: []string{"stdin line 2", "byte 4 is 0xc3"}},
	}
	for _, tc := range tests {
		for _, npyOut := range []bool{false, true} {
			name := tc.name
			if npyOut {
				name += ", --out"
			}
			t.Run(name, func(t *testing.T) {
				io, out, _ := testIO()
				io.In = strings.NewReader(tc.stdin)
				opts := &TokenizeOptions{IO: io, Captions: tc.args, ContextLength: 77, Trim: true}
				if npyOut {
					opts.Out = filepath.Join(t.TempDir(), "t.npy")
				}
				err := tokenizeRun(opts)
				if tc.wantErr != nil {
					if err == nil {
						t.Fatalf("no error; printed %q", out.String())
					}
					for _, p := range tc.wantErr {
						if !strings.Contains(err.Error(), p) {
							t.Errorf("error %q does not mention %q", err, p)
						}
					}
					if npyOut {
						if _, serr := os.Stat(opts.Out); serr == nil {
							t.Errorf("%s written despite the error", opts.Out)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !npyOut && out.String() != tc.want {
					t.Errorf("printed %q, want %q", out.String(), tc.want)
				}
			})
		}
	}
}
