package analyze

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filesight/internal/provider"
)

const (
	pcmRate       = 16000
	frameSamples  = pcmRate / 100 // 10 ms analysis frames
	frameBytes    = frameSamples * 2
	chunkSilentDB = -40.0 // a 10 ms frame quieter than this is a pause
	chunkPause    = 30    // frames of pause (0.3 s) that allow a cut
	chunkSearch   = 15.0  // seconds past the target to look for a pause before forcing a cut

	// The default chunk length, duration/(2·Concurrency), is kept within
	// these bounds. Every chunk starts pocketsphinx afresh: its cepstral
	// mean starts from the model's default and its first words come out
	// worse, so fewer, longer chunks recognise better (bench talk: 21.8 %
	// WER with 8–20 s chunks, 15.1 % with 40 s ones), as long as there are
	// enough of them to keep the cores busy.
	minChunkTarget = 15.0
	maxChunkTarget = 40.0
)

// chunk is one piece of the audio, cut at a pause, decoded on its own.
type chunk struct {
	Index  int
	Path   string
	Offset float64 // seconds from the start of the media
	Length float64 // seconds
}

// chunker cuts a stream of 16 kHz mono s16le PCM into WAV files of about
// target seconds, each ending inside a pause, and hands each finished file
// to emit while the rest of the stream is still arriving. It keeps at most
// one chunk (target + chunkSearch seconds, about 1.5 MB) in memory.
type chunker struct {
	dir    string
	target float64
	emit   func(chunk)

	buf    []byte    // PCM of the current chunk
	levels []float64 // dBFS per 10 ms frame of buf
	offset int64     // samples before buf
	index  int
}

func (c *chunker) consume(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	frame := make([]byte, frameBytes)
	pause := 0
	targetFrames := int(c.target * 100)
	maxFrames := targetFrames + int(chunkSearch*100)
	for {
		n, err := io.ReadFull(br, frame)
		if n > 0 {
			n -= n % 2
			c.buf = append(c.buf, frame[:n]...)
			lvl := level(frame[:n])
			c.levels = append(c.levels, lvl)
			if lvl < chunkSilentDB {
				pause++
			} else {
				pause = 0
			}
			frames := len(c.levels)
			switch {
			case frames >= targetFrames && pause >= chunkPause:
				// Cut in the middle of the pause so far.
				if err := c.cut(frames - pause/2); err != nil {
					return err
				}
				pause /= 2
			case frames >= maxFrames:
				cut := quietest(c.levels, targetFrames)
				if err := c.cut(cut); err != nil {
					return err
				}
				pause = 0
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return c.cut(len(c.levels))
			}
			return err
		}
	}
}

// cut writes the first frames of the current chunk to a WAV file and keeps
// the rest as the start of the next chunk.
func (c *chunker) cut(frames int) error {
	if frames <= 0 {
		return nil
	}
	nb := min(frames*frameBytes, len(c.buf))
	data := c.buf[:nb]
	speech := false
	for _, l := range c.levels[:frames] {
		if l >= chunkSilentDB {
			speech = true
			break
		}
	}
	if speech {
		c.index++
		path := filepath.Join(c.dir, fmt.Sprintf("chunk-%04d.wav", c.index))
		if err := writeWAV(path, data); err != nil {
			return err
		}
		c.emit(chunk{Index: c.index, Path: path, Offset: float64(c.offset) / pcmRate, Length: float64(nb/2) / pcmRate})
	}
	c.offset += int64(nb / 2)
	rest := copy(c.buf, c.buf[nb:])
	c.buf = c.buf[:rest]
	restL := copy(c.levels, c.levels[frames:])
	c.levels = c.levels[:restL]
	return nil
}

// level is the RMS level of s16le samples in dBFS.
func level(b []byte) float64 {
	if len(b) < 2 {
		return silentDB
	}
	var sum float64
	for i := 0; i+1 < len(b); i += 2 {
		s := float64(int16(binary.LittleEndian.Uint16(b[i:])))
		sum += s * s
	}
	rms := math.Sqrt(sum/float64(len(b)/2)) / 32768
	if rms <= 0 {
		return silentDB
	}
	return 20 * math.Log10(rms)
}

// quietest returns the frame index at or after from whose surrounding
// 100 ms is quietest.
func quietest(levels []float64, from int) int {
	best, bestAt := math.Inf(1), len(levels)
	const w = 10
	for i := max(from, w/2); i+w/2 <= len(levels); i++ {
		var e float64
		for _, l := range levels[i-w/2 : i+w/2] {
			e += math.Pow(10, l/10)
		}
		if e < best {
			best, bestAt = e, i
		}
	}
	return bestAt
}

func writeWAV(path string, pcm []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	var h [44]byte
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(pcm)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], pcmRate)
	binary.LittleEndian.PutUint32(h[28:], pcmRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(pcm)))
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(pcm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// recognize runs pocketsphinx on one chunk, with extra arguments (the
// on-screen vocabulary) if any, and returns its words with times relative
// to the start of the media.
func recognize(ctx context.Context, r *runner, c chunk, exact bool, extra []string) ([]provider.Word, error) {
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	defer r.release()
	args := []string{"-infile", c.Path, "-time", "yes", "-logfn", "/dev/null"}
	if !exact {
		args = append(args, "-maxhmmpf", "3000", "-maxwpf", "10")
	}
	args = append(args, extra...)
	cmd := r.command(ctx, "pocketsphinx_continuous", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("pocketsphinx stdout: %w", err)
	}
	var stderr tailBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pocketsphinx: %w", err)
	}
	var words []provider.Word
	_ = scanLines(stdout, 4096, func(l string) {
		if w, ok := parseWordLine(l); ok {
			w.Start = round3(w.Start + c.Offset)
			w.End = round3(w.End + c.Offset)
			words = append(words, w)
		}
	})
	err = cmd.Wait()
	r.finished("pocketsphinx", cmd, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, toolError("pocketsphinx_continuous", err, stderr.String())
	}
	return words, nil
}

// parseWordLine parses a "-time yes" line, "word start end posterior",
// dropping markers (<s>, </s>, <sil>, [NOISE], ++GARBAGE++) and turning
// alternative pronunciations "word(2)" into "word".
func parseWordLine(l string) (provider.Word, bool) {
	f := strings.Fields(l)
	if len(f) != 4 {
		return provider.Word{}, false
	}
	start, err1 := strconv.ParseFloat(f[1], 64)
	end, err2 := strconv.ParseFloat(f[2], 64)
	conf, err3 := strconv.ParseFloat(f[3], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return provider.Word{}, false
	}
	w := f[0]
	if strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "+") {
		return provider.Word{}, false
	}
	if i := strings.IndexByte(w, '('); i > 0 && strings.HasSuffix(w, ")") {
		w = w[:i]
	}
	if w == "" {
		return provider.Word{}, false
	}
	return provider.Word{Word: w, Start: start, End: end, Confidence: math.Round(math.Min(1, math.Max(0, conf))*1000) / 1000}, true
}
