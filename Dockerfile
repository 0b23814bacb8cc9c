# ossmount's image: the mount command and the CSI driver (`ossmount csi`).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ossmount:latest .
# The build stage builds exactly what `make build` builds (a test compares
# the two command lines).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ossmount ./cmd/ossmount

FROM debian:bookworm-slim
# fuse3: fusermount3 and the kernel interface's tools; util-linux: mount(8)
# for the bind mounts of the CSI driver.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fuse3 util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ossmount /usr/local/bin/ossmount
ENTRYPOINT ["/usr/local/bin/ossmount"]
