#!/usr/bin/env bash
# mutate.sh runs gremlins (mutation testing) over the packages whose logic is
# pure enough to mutate quickly, one package at a time, and prints
#
#   RESULT mutation <package> efficacy=<percent> killed=<n> lived=<n> timed_out=<n> not_covered=<n> target=<percent>
#
# per package. Every mutant that lived is written to $OUT/survivors.txt
# ("<package>/<file>:<line>:<column> <mutator>"), the raw reports to
# $OUT/<package>.json. See docs/testing.md, "Mutation testing".
#
# Usage: tools/gremlins/mutate.sh [package[:file.go,...] ...]   (default: every target below)
# Environment: GREMLINS (the binary), OUT (report folder), WORKERS (parallel
# mutants, default 1), TIMEOUT_COEFFICIENT (a mutant's tests may take this
# many times as long as the unmutated run of the package and its
# subpackages, default 4), TARGET (efficacy
# percent a package must reach, default 85), STRICT=1 to exit 1 when a
# package is below TARGET.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
GREMLINS=$(realpath "${GREMLINS:-$root/bin/gremlins}")
OUT=${OUT:-$root/.data/mutation}
mkdir -p "$OUT" && OUT=$(realpath "$OUT")
WORKERS=${WORKERS:-1}
TIMEOUT_COEFFICIENT=${TIMEOUT_COEFFICIENT:-4}
TARGET=${TARGET:-85}
STRICT=${STRICT:-0}

# package → the files mutated in it (empty: every non-test file of the
# package itself, not of its subpackages). Only the files that hold the logic
# named in docs/testing.md are listed for the large packages, whose tests
# take long: each mutant runs its package's whole test suite.
declare -A files=(
	[internal/detect]=""                                # sensitive-value detection: Luhn, IBAN, SSN, phones, e-mail
	[internal/vault]=""                                 # tokenisation: token format, redaction of documents
	[internal/signature]=""                             # webhook and callback signatures, replay memory
	[internal/jsonpatch]=""                             # RFC 6902
	[internal/codec]="codec.go"                         # payload codec: encryption, key IDs, bounds
	[activities]="cards.go errors.go"                   # card building, error classification
	[workflows]="errors.go policies.go"                 # failure reading, retry policies
	[internal/provider]="retryafter.go callback.go"     # Retry-After, signed callback URLs
)
order=(internal/detect internal/vault internal/signature internal/jsonpatch internal/codec
	activities workflows internal/provider)

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then pkgs=("${order[@]}"); fi

[ -x "$GREMLINS" ] || { echo "mutate: $GREMLINS missing (make $root/bin/gremlins)" >&2; exit 2; }
mkdir -p "$OUT"
: >"$OUT/survivors.txt"

# gremlins copies the whole module once per worker: run it on a copy that
# holds only the repository's files (no bin/, no .data/), including changes
# not committed yet.
work=$(mktemp -d "${TMPDIR:-/tmp}/filesight-mutate.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$root" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
	[ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -C "$work" -xf -

# Each mutant is one "go test" of its package: skip the vet checks go test
# runs first (make vet runs them once), they cost more than the tests here.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-vet=off"

below=()
for arg in "${pkgs[@]}"; do
	# "package:file.go,other.go" mutates only those files of a target.
	pkg=${arg%%:*}
	if [ -z "${files[$pkg]+set}" ]; then echo "mutate: $pkg is not a mutation target" >&2; exit 2; fi
	if [ "$arg" != "$pkg" ]; then files[$pkg]=${arg#*:}; files[$pkg]=${files[$pkg]//,/ }; fi
	# Exclude subpackages, and every file not listed for the package.
	excl=(-E '/')
	if [ -n "${files[$pkg]}" ]; then
		for f in "$work/$pkg"/*.go; do
			b=$(basename "$f")
			case "$b" in *_test.go) continue ;; esac
			[[ " ${files[$pkg]} " == *" $b "* ]] || excl+=(-E "^${b//./\\.}\$")
		done
	fi
	name=${arg//[\/:,.]/_}
	echo "mutate: $pkg (${files[$pkg]:-all files})"
	(cd "$work" && "$GREMLINS" unleash --workers "$WORKERS" --timeout-coefficient "$TIMEOUT_COEFFICIENT" \
		--output "$OUT/$name.json" "${excl[@]}" "./$pkg") >"$OUT/$name.log" 2>&1 || {
		echo "mutate: gremlins failed on $pkg; see $OUT/$name.log" >&2
		tail -20 "$OUT/$name.log" >&2
		exit 1
	}
	# One line of figures, and the survivors, from the JSON report.
	line=$(cd "$root/tools/gremlins" && go run ./report -pkg "$pkg" -target "$TARGET" \
		-survivors "$OUT/survivors.txt" "$OUT/$name.json")
	echo "$line"
	case "$line" in *" below_target"*) below+=("$pkg") ;; esac
done
echo "mutate: survivors in $OUT/survivors.txt"
if [ ${#below[@]} -gt 0 ]; then
	echo "mutate: below ${TARGET}%: ${below[*]}" >&2
	[ "$STRICT" = 1 ] && exit 1
fi
exit 0
