// Package dataset reads the image–caption data sets that users bring to
// trak, in the layouts CLIP training uses. It deals in raw image bytes and
// caption strings: decoding images and tokenizing captions are done by other
// packages.
//
// # Formats
//
//   - csv, tsv: a delimited text file with a header row (open_clip's
//     convention: an image path column "filepath" and a caption column
//     "title"; both names and the separator are configurable). Relative
//     image paths are resolved against Spec.BaseDir, by default the
//     directory holding the file. Quoted fields (with embedded separators,
//     quotes and newlines), CRLF line ends, a leading UTF-8 byte order mark
//     and empty lines are accepted, split as encoding/csv splits them with
//     LazyQuotes (a quote that is neither doubled nor closing is kept as
//     it is). A quoted field that runs past the end of its line is where a
//     caption with line breaks and an unbalanced quote look alike; the file
//     is refused, naming the line the field starts on, when the field runs
//     into the end of the file, runs on past a line end after such a stray
//     quote, takes in a line that looks like a row of the file (an image
//     file name in the image column), or runs over more than 64 lines. A
//     record with more fields than the header, the extra ones not empty, is
//     a bad example: a caption with an unquoted separator in it. With no
//     separator given, csv means ',' and tsv means tab; a .csv file whose
//     header only makes sense split on tabs (open_clip's default separator
//     is a tab) is read as tab separated.
//   - webdataset: uncompressed tar shards, given as paths, "*"/"?"/"[...]"
//     globs and brace patterns ("shards/{00000..00099}.tar", "{a,b}.tar"),
//     several of them separated by "::" or listed in Spec.Paths. A sample is
//     a run of consecutive members sharing a key (the member path up to the
//     first dot of its base name); its image is the member with extension
//     jpg, jpeg, png, webp, bmp, gif, tiff or tif (in that preference when
//     there are several) and its caption the .txt member, else the .caption
//     member, else the "caption" string of the .json member. Opening scans
//     the tar headers once and keeps each image member's offset and size,
//     so images are read later by seeking, never held in memory. A shard
//     must be a whole tar: one that ends right after a member, without the
//     end-of-archive marker (two 512-byte zero blocks; one is enough, as
//     nothing can be missing after it), is refused as truncated, since tar
//     readers would take the cut for the end and lose the samples after it
//     silently; so is one with data after the marker (archives joined with
//     cat), which tar readers would ignore.
//   - folder: a directory tree of NAME.EXT images, each with a NAME.txt
//     whose first line is the caption (the layout of Tux Paint's stamps).
//     Files with other extensions (sounds, settings) are ignored, as are
//     hidden files and directories; symbolic links to files are followed,
//     links to directories are not.
//
// # Captions
//
// A caption is the CSV cell, the whole text of a webdataset .txt or
// .caption member, the "caption" string of a .json member, or the first
// line of a folder's NAME.txt (a leading byte order mark dropped). It must
// be valid UTF-8 and not empty once leading and trailing white space is
// trimmed; captions are handed out trimmed (see CleanCaption). Caption
// files and members over 64 KiB (.json: 1 MiB) are bad examples.
//
// # Rows and bad examples
//
// Every sample the data set names is a row, numbered from 0, including the
// ones that cannot be used, so that row numbers stay the same whatever the
// caller does with bad examples. Row order is stable:
//
//   - csv, tsv: the order of the records in the file;
//   - webdataset: shards in natural name order (runs of digits compare as
//     numbers, so "9.tar" comes before "10.tar"; zero-padded names sort as
//     usual), then samples in member order within a shard;
//   - folder: sorted by the image's relative path without its extension
//     ("/"-separated, byte order).
//
// A row is a bad example when what it needs is missing or unusable at open
// time: no image (or the image file does not exist), no caption, an
// unsupported image format such as SVG, a caption that is not valid UTF-8
// or is empty after trimming white space, a CSV record with fewer fields
// than the two columns need or with more than the header has. Problems lists them; Read on such
// a row returns an error wrapping ErrBadExample. Whether a bad example stops
// a run or is skipped is the caller's policy. Errors that make the whole
// data set unreadable (a missing CSV file or column, an unbalanced quote in
// a CSV file, a truncated, compressed or joined tar shard, a pattern that
// matches nothing) make Open fail.
//
// # Fingerprint
//
// Fingerprint is a SHA-256 over the format, the number of rows and, for
// each row in order: the image's name relative to the data set (CSV: the
// path cell as written; folder: the relative path; webdataset: the shard's
// base name and the member name), the caption, the bad-example reason, the
// image's size and modification time (files: from stat; webdataset: the
// member's size and modification time in its tar header, and its offset in
// the shard). It is computed from what Open already gathered, without
// reading any image. It changes when a row is added, removed or reordered,
// when a caption changes, and when an image is replaced or rewritten in a
// way that changes its size or modification time. It does not see: image
// bytes rewritten in place with the same size and modification time; where
// the data set lies (moving it, or copying it with modification times kept,
// keeps the fingerprint; copying without them changes it); CSV columns other
// than the two used; tar members other than a sample's image and caption;
// caption file lines after the first in the folder format; files the
// formats ignore. Read checks each image's size and modification time
// against the ones seen at open, so data changed after Open is reported
// rather than read silently under a stale fingerprint.
package dataset
