// Package tokenizer turns captions into the token ids a CLIP text tower
// reads: CLIP's byte-level byte-pair encoding (BPE), with the cleaning,
// splitting and truncation rules open_clip applies before it.
//
// # Vocabulary
//
// The default vocabulary is built from bpe_simple_vocab_16e6.txt.gz, OpenAI
// CLIP's merges list, embedded in the binary (MIT licence, OpenAI; see
// LICENSE-bpe_simple_vocab_16e6.txt beside this file). Every byte 0–255 has a
// one-character "byte symbol" (the byte itself where it is a printable
// Latin-1 character other than the soft hyphen, otherwise the character
// U+0100 + n for the n-th remaining byte in increasing order). Ids are
// assigned in this order:
//
//  1. the 256 byte symbols, printable ranges first ('!'..'~', '¡'..'¬',
//     '®'..'ÿ'), then the remaining bytes in increasing order;
//  2. the same 256 symbols followed by "</w>" (the end-of-word marker);
//  3. one token per merge, the two halves joined, for the first 48,894
//     merges of the file (its lines 2 to 48,895; line 1 is a header);
//  4. the start token (49406) and the end token (49407).
//
// That is 49,408 ids. New builds these tables from the embedded file; FromHF
// and FromDir read the same vocabulary in the vocab.json + merges.txt form
// shipped beside Hugging Face checkpoints. A Tokenizer is immutable apart
// from an internal, synchronised cache of encoded words, and is safe for
// concurrent use.
//
// # Cleaning
//
// Clean prepares a caption in five steps (see Clean for the precise rules):
//
//  1. repair: invalid UTF-8 bytes become U+FFFD; terminal colour escapes are
//     removed; mojibake — UTF-8 text that was decoded as Windows-1252 or
//     Latin-1 — is re-decoded where that is unambiguous; C1 control
//     characters become their Windows-1252 characters; Latin ligatures are
//     spelt out; fullwidth/halfwidth forms get their usual width; curly
//     quotes become straight ones; invisible control characters are
//     removed; the text is put in Unicode normalisation form NFC. These
//     follow the default fixes of the ftfy library that CLIP's reference
//     tokenizer calls, restricted to rules that are deterministic and
//     conservative;
//  2. HTML character references are decoded, twice, with the rules of
//     Python's html.unescape (which differ from Go's html.UnescapeString in
//     a few corner cases); if that changed the text, the repair step runs
//     again on the result;
//  3. every run of white space (Unicode White_Space) becomes one space;
//  4. leading and trailing space is removed;
//  5. the text is lowercased with full Unicode case mapping, as Python's
//     str.lower does it: İ (U+0130) becomes "i̇" (i, U+0307) and a capital
//     sigma that ends a word becomes ς (final sigma).
//
// # Splitting and encoding
//
// The cleaned text is split, left to right, into pieces matching the first
// alternative that applies at each position of
//
//	<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// (case-insensitive with simple case folding; white space between pieces is
// dropped). The scanner is hand-written: it is faster than a regular
// expression and uses Python's definition of \s (Unicode White_Space), which
// Go's regexp does not. It reproduces one quirk of the reference's regular
// expression engine: U+0345 (combining ypogegrammeni) matches no
// alternative and is dropped like white space.
// A piece equal to the start or end token's name encodes to that token (the
// names are "<start_of_text>" and "<end_of_text>" for New, and the names in
// vocab.json for FromHF); a piece matching a name only under case folding
// ("<ſtart_of_text>") is ordinary text. Every other piece is taken as its UTF-8 bytes,
// each byte becomes its byte symbol, the last symbol gets "</w>", and BPE
// merges are applied: repeatedly, the adjacent pair with the lowest merge
// rank is found and every non-overlapping occurrence of it, left to right,
// is replaced by the merged token, until no adjacent pair has a rank. The
// resulting tokens' ids are the piece's ids. Encoded pieces are cached.
//
// Tokenize builds the model input: [start] + ids + [end], cut to the
// context length with the last kept id replaced by end, padded with zeros.
package tokenizer
