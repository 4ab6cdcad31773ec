package ctl

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// tableMaxCellWidth is the width past which a cell containing spaces is
// wrapped onto several lines, as olekukonko/tablewriter v0.0.5 (which
// etcdctl uses) does by default.
const tableMaxCellWidth = 30

// renderTable writes hdr and rows as etcdctl's -w table output: +---+
// borders, a header row upper-cased ('_' as space) and centered, data cells
// right-aligned, one space of padding each side.
func renderTable(w io.Writer, hdr []string, rows [][]string) {
	ncol := len(hdr)
	head := make([][]string, ncol)
	widths := make([]int, ncol)
	for i, h := range hdr {
		head[i] = wrapCell(tableTitle(h))
		for _, l := range head[i] {
			widths[i] = max(widths[i], utf8.RuneCountInString(l))
		}
	}
	body := make([][][]string, len(rows))
	for r, row := range rows {
		body[r] = make([][]string, ncol)
		for i := 0; i < ncol; i++ {
			cell := ""
			if i < len(row) {
				cell = row[i]
			}
			body[r][i] = wrapCell(cell)
			for _, l := range body[r][i] {
				widths[i] = max(widths[i], utf8.RuneCountInString(l))
			}
		}
	}
	var sep strings.Builder
	sep.WriteString("+")
	for _, wd := range widths {
		sep.WriteString(strings.Repeat("-", wd+2))
		sep.WriteString("+")
	}
	line := sep.String() + "\n"
	io.WriteString(w, line)
	writeTableRow(w, head, widths, true)
	io.WriteString(w, line)
	for _, row := range body {
		writeTableRow(w, row, widths, false)
	}
	io.WriteString(w, line)
}

func writeTableRow(w io.Writer, cells [][]string, widths []int, center bool) {
	height := 0
	for _, c := range cells {
		height = max(height, len(c))
	}
	for l := 0; l < height; l++ {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			s := ""
			if l < len(c) {
				s = c[l]
			}
			pad := widths[i] - utf8.RuneCountInString(s)
			left := pad
			if center {
				left = pad / 2
			}
			b.WriteString(" ")
			b.WriteString(strings.Repeat(" ", left))
			b.WriteString(s)
			b.WriteString(strings.Repeat(" ", pad-left))
			b.WriteString(" |")
		}
		b.WriteString("\n")
		io.WriteString(w, b.String())
	}
}

// tableTitle turns a header into tablewriter's title form: '_' and
// word-separating '.' become spaces, trimmed, upper-cased.
func tableTitle(h string) string {
	rs := []rune(h)
	isNumOrSpace := func(r rune) bool { return r == ' ' || (r >= '0' && r <= '9') }
	for i, r := range rs {
		switch r {
		case '_':
			rs[i] = ' '
		case '.':
			if (i != 0 && !isNumOrSpace(rs[i-1])) || (i != len(rs)-1 && !isNumOrSpace(rs[i+1])) {
				rs[i] = ' '
			}
		}
	}
	t := strings.TrimSpace(string(rs))
	if t == "" && h != "" {
		t = " "
	}
	return strings.ToUpper(t)
}

// wrapCell splits a cell into lines: cells up to tableMaxCellWidth (or
// without spaces) stay whole; longer ones wrap at spaces, greedily, to the
// larger of the limit and the longest word.
func wrapCell(s string) []string {
	if utf8.RuneCountInString(s) <= tableMaxCellWidth {
		return []string{s}
	}
	words := strings.Fields(s)
	if len(words) <= 1 {
		return []string{s}
	}
	limit := tableMaxCellWidth
	for _, wd := range words {
		limit = max(limit, utf8.RuneCountInString(wd))
	}
	var lines []string
	cur := words[0]
	for _, wd := range words[1:] {
		if utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(wd) > limit {
			lines = append(lines, cur)
			cur = wd
			continue
		}
		cur += " " + wd
	}
	return append(lines, cur)
}

// humanBytes formats a byte count with decimal SI units the way
// go-humanize's Bytes does: "9 B", "20 kB", "2.1 GB" (one decimal below 10).
func humanBytes(n uint64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	suffix := units[int(e)]
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	if val < 10 {
		return fmt.Sprintf("%.1f %s", val, suffix)
	}
	return fmt.Sprintf("%.0f %s", val, suffix)
}
