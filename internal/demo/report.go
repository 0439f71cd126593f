package demo

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/score"
)

// reportItem is one picture of the report.
type reportItem struct {
	Index   int
	Caption string
	Score   float64
	PNG     []byte
	img     image.Image
}

// reportRow is one target with its proponents and opponents.
type reportRow struct {
	Target     reportItem
	Proponents []reportItem
	Opponents  []reportItem
}

// Report is what the HTML page and the PNG grid show.
type Report struct {
	Title   string
	Summary []string
	Rows    []reportRow
}

// buildReport collects the first targets with their top proponents and
// opponents, reading the images from the data sets.
func buildReport(scores []float32, trainDS, targetDS *dataset.Dataset, targets, props, opps int) (Report, error) {
	n, t := trainDS.Len(), targetDS.Len()
	item := func(ds *dataset.Dataset, i int, s float64) (reportItem, error) {
		data, caption, err := ds.Read(i)
		if err != nil {
			return reportItem{}, err
		}
		ref, _ := ds.Describe(i)
		img, err := imageprep.Decode(bytes.NewReader(data), ref, imageprep.DecodeOptions{})
		if err != nil {
			return reportItem{}, err
		}
		return reportItem{Index: i, Caption: caption, Score: s, PNG: data, img: img}, nil
	}
	var r Report
	for j := range min(targets, t) {
		tg, err := item(targetDS, j, 0)
		if err != nil {
			return r, err
		}
		row := reportRow{Target: tg}
		for _, e := range score.Top(scores, n, t, j, props, false) {
			it, err := item(trainDS, e.Row, e.Score)
			if err != nil {
				return r, err
			}
			row.Proponents = append(row.Proponents, it)
		}
		for _, e := range score.Top(scores, n, t, j, opps, true) {
			it, err := item(trainDS, e.Row, e.Score)
			if err != nil {
				return r, err
			}
			row.Opponents = append(row.Opponents, it)
		}
		r.Rows = append(r.Rows, row)
	}
	return r, nil
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"data": func(b []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} .summary{margin:0 0 16px 0;padding:0;list-style:none;font-size:14px}
.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start;margin:14px 0;padding:10px;background:#fff;border:1px solid #ddd;border-radius:6px}
.cell{width:132px;font-size:11px;text-align:center}
.cell img{width:128px;height:128px;image-rendering:pixelated;border:2px solid #ccc}
.target img{border-color:#333} .pro img{border-color:#2a8} .opp img{border-color:#d44}
.sep{width:2px;align-self:stretch;background:#ddd}
.label{font-weight:600;font-size:12px;margin-bottom:4px}
</style></head><body>
<h1>{{.Title}}</h1>
<ul class="summary">{{range .Summary}}<li>{{.}}</li>{{end}}</ul>
{{range .Rows}}<div class="row">
<div class="cell target"><div class="label">target #{{.Target.Index}}</div><img src="{{data .Target.PNG}}" alt=""><div>{{.Target.Caption}}</div></div>
<div class="sep"></div>
{{range .Proponents}}<div class="cell pro"><div class="label">+{{printf "%.3g" .Score}}</div><img src="{{data .PNG}}" alt=""><div>#{{.Index}} {{.Caption}}</div></div>{{end}}
<div class="sep"></div>
{{range .Opponents}}<div class="cell opp"><div class="label">{{printf "%.3g" .Score}}</div><img src="{{data .PNG}}" alt=""><div>#{{.Index}} {{.Caption}}</div></div>{{end}}
</div>{{end}}
<p style="font-size:12px">Green: the train pairs with the highest scores (proponents); red: the lowest (opponents).</p>
</body></html>
`))

// WriteHTML writes the report as a self-contained HTML page (images
// embedded as data URIs).
func (r Report) WriteHTML(path string) error {
	var b bytes.Buffer
	if err := reportPage.Execute(&b, r); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}

// WritePNG draws the report as a grid: one row per target, its picture
// then its proponents (green frame) and opponents (red frame), each with
// its score and the start of its caption.
func (r Report) WritePNG(path string) error {
	const cell, pad, text = 128, 8, 30
	cols := 1
	for _, row := range r.Rows {
		cols = max(cols, 1+len(row.Proponents)+len(row.Opponents))
	}
	w := pad + cols*(cell+pad)
	h := pad + 20 + len(r.Rows)*(cell+text+pad)
	canvas := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.RGBA{250, 250, 250, 255}), image.Point{}, draw.Src)
	face := basicfont.Face7x13
	label := func(x, y int, s string, c color.Color) {
		// basicfont has ASCII only: cut with "..", which it can draw.
		if maxChars := cell / 7; len(s) > maxChars && y > pad+12 {
			s = s[:maxChars-2] + ".."
		}
		d := font.Drawer{Dst: canvas, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	label(pad, pad+12, r.Title, color.Black)
	for ri, row := range r.Rows {
		y := pad + 20 + ri*(cell+text+pad)
		items := append(append([]reportItem{row.Target}, row.Proponents...), row.Opponents...)
		for ci, it := range items {
			x := pad + ci*(cell+pad)
			frame := color.RGBA{40, 40, 40, 255}
			head := fmt.Sprintf("target #%d", it.Index)
			switch {
			case ci > len(row.Proponents):
				frame, head = color.RGBA{210, 60, 60, 255}, fmt.Sprintf("%.3g", it.Score)
			case ci > 0:
				frame, head = color.RGBA{40, 160, 120, 255}, fmt.Sprintf("+%.3g", it.Score)
			}
			draw.Draw(canvas, image.Rect(x-2, y-2, x+cell+2, y+cell+2), image.NewUniform(frame), image.Point{}, draw.Src)
			scaled := scaleNearest(it.img, cell)
			draw.Draw(canvas, image.Rect(x, y, x+cell, y+cell), scaled, image.Point{}, draw.Src)
			label(x, y+cell+13, head, frame)
			label(x, y+cell+26, it.Caption, color.Black)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, canvas); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b.Bytes(), 0o644)
}

// scaleNearest enlarges img to size × size by nearest-neighbour sampling,
// which keeps small pictures crisp.
func scaleNearest(img image.Image, size int) image.Image {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			out.Set(x, y, img.At(b.Min.X+x*b.Dx()/size, b.Min.Y+y*b.Dy()/size))
		}
	}
	return out
}
