#!/usr/bin/env bash
# The baseline for `make bench`: the same tools mlengine uses, run one after
# another on one input, each the plain way (one ffmpeg pass per measurement,
# pocketsphinx on the whole audio, tesseract on each scene thumbnail).
# Prints "step <name> <seconds>" lines and "total <seconds>".
# Usage: bench/sequential.sh INPUT WORKDIR
set -euo pipefail
in=$1
work=$2
mkdir -p "$work/thumbs"
# Microseconds since the epoch (bash 5's EPOCHREALTIME, no bc needed).
now() { local t=$EPOCHREALTIME; echo "${t/./}"; }
total=0
step() {
  local name=$1; shift
  local t0 t1
  t0=$(now)
  "$@" >"$work/$name.out" 2>"$work/$name.err" || { echo "step $name failed:" >&2; tail -5 "$work/$name.err" >&2; exit 1; }
  t1=$(now)
  local d=$((t1 - t0))
  total=$((total + d))
  printf 'step %s %d.%06d\n' "$name" $((d / 1000000)) $((d % 1000000))
}
step ffprobe ffprobe -v error -print_format json -show_format -show_streams "$in"
step scenes ffmpeg -hide_banner -nostdin -y -i "$in" -vf "select='eq(n\,0)+gt(scene\,0.1)',showinfo" -fps_mode vfr "$work/thumbs/scene-%04d.png"
step silences ffmpeg -hide_banner -nostdin -i "$in" -af silencedetect=n=-40dB:d=0.5 -f null -
step loudness ffmpeg -hide_banner -nostdin -i "$in" -af ebur128=peak=true:framelog=verbose -f null -
step pcm ffmpeg -hide_banner -nostdin -y -i "$in" -vn -ar 16000 -ac 1 -c:a pcm_s16le "$work/audio.wav"
step pocketsphinx pocketsphinx_continuous -infile "$work/audio.wav" -time yes -logfn /dev/null
ocr() { for f in "$work"/thumbs/*.png; do OMP_THREAD_LIMIT=1 tesseract "$f" stdout -l eng tsv; done; }
step tesseract ocr
printf 'total %d.%06d\n' $((total / 1000000)) $((total % 1000000))
