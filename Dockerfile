# One image for every filesight program; docker-compose.yml picks the command.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./worker ./starter ./localbox ./mlengine ./vault

FROM debian:bookworm-slim
# The analyzers are Debian's tools; only mlengine needs them, the others ignore them.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates ffmpeg pocketsphinx pocketsphinx-en-us tesseract-ocr tesseract-ocr-eng \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/filesight filesight \
 && mkdir -p /var/lib/filesight && chown filesight /var/lib/filesight
COPY --from=build /out/ /usr/local/bin/
USER filesight
WORKDIR /var/lib/filesight
