#!/usr/bin/env bash
# Builds trak-cuda (the -tags cuda build) on this machine, which needs no
# GPU but needs CUDA's headers and libcuda stubs: Debian's CUDA 11.8 from the
# non-free component (about 1.6 GB; this script installs it when missing and
# it runs as root). The PTX of internal/gpu/kernels is regenerated with nvcc.
# Output: bin/trak-cuda. Run scripts/gpu_check.sh on the GPU machine next.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null || [ ! -f /usr/include/cuda.h ]; then
	if [ "$(id -u)" != 0 ]; then echo "install nvidia-cuda-toolkit and nvidia-cuda-dev first (as root)" >&2; exit 1; fi
	cat > /etc/apt/sources.list.d/trak-nonfree.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nvidia-cuda-dev nvidia-cuda-toolkit
fi
go generate ./internal/gpu
mkdir -p bin
go build -tags cuda -o bin/trak-cuda ./cmd/trak
go build -o bin/trak ./cmd/trak
echo "built bin/trak and bin/trak-cuda ($(nvcc --version | tail -1))"
