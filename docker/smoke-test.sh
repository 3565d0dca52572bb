#!/usr/bin/env bash
# Builds the image offline and proves that it serves: the CI half of issue 4 (README, "Docker").
#
# No image registry and no Python package index are reachable from inside a build here, so this script
# makes both itself: a Debian bookworm base from the machine's own apt mirror (debootstrap, then
# `docker import`), and wheels/ filled by pip on the host, which the Dockerfile installs from with
# PIP_NO_INDEX=1. It runs its own Docker daemon (own socket, data and exec roots) so that it neither needs
# nor disturbs one already running, and removes all of it on exit, failure included.
#
# Needs root, dockerd, docker and debootstrap (.ci/run installs them); without them, or where the daemon
# cannot start, it says so and skips. PYTHON names the interpreter whose pip downloads the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
image=cvae-digits:smoke
base=local/debian:bookworm
max_image_mb=1150  # the CPU image measured 1109 MB with scipy (966 MB before it)

skip() {
    echo "docker-smoke: SKIPPED: $*" >&2
    exit 0
}

[[ $(id -u) -eq 0 ]] || skip "starting a Docker daemon needs root"
for tool in dockerd docker debootstrap; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install docker.io debootstrap)"
done
# The container serves on the host's network (no bridge here), on the port the image's CMD names.
if "$python" -c 'import socket, sys; sys.exit(socket.socket().connect_ex(("127.0.0.1", 8000)) != 0)'; then
    echo "docker-smoke: port 8000 is already in use on this machine; the container needs it" >&2
    exit 1
fi

started=$SECONDS
work=$(mktemp -d /tmp/cvae-docker.XXXXXX)
dockerd_pid=
container=
cleanup() {
    local status=$?
    if [[ -n $container ]]; then
        docker rm --force "$container" >/dev/null 2>&1 || true
    fi
    if [[ -n $dockerd_pid ]]; then
        kill "$dockerd_pid" 2>/dev/null || true
        # dockerd unmounts its layers and stops its containerd on the way out; the directories go after.
        for _ in $(seq 30); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    # Whatever the daemon left mounted under $work, deepest first, then the tmpfs itself.
    awk -v root="$work" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
    rm -rf "$work" wheels
    echo "docker-smoke: cleaned up ($((SECONDS - started)) s in all)"
    exit "$status"
}
trap cleanup EXIT

# Everything the daemon writes (about 4 GB at the peak, tens of thousands of small files) lives in memory:
# deleting it from this machine's shared disk took up to 3 minutes, unmounting a tmpfs takes none.
mount -t tmpfs -o size=10g,mode=0700 cvae-docker-smoke "$work" ||
    skip "cannot mount a tmpfs here, so Docker's daemon could not mount its layers either"

export DOCKER_HOST="unix://$work/docker.sock"
dockerd --storage-driver=overlay2 --data-root "$work/data" --exec-root "$work/exec" \
    --pidfile "$work/dockerd.pid" --host "$DOCKER_HOST" --iptables=false --bridge=none \
    >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 30); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
done
if ! docker info >/dev/null 2>&1; then
    tail -n 5 "$work/dockerd.log" >&2
    skip "Docker's daemon cannot start on this machine (its last log lines are above)"
fi

echo "docker-smoke: building the base image $base from this machine's Debian mirror"
# The mirror is read from apt's configuration at run time, so no host name is written into the repo.
mirror=$(apt-get indextargets --format '$(SITE)' 'Label: Debian' 'Identifier: Packages' | awk 'NR == 1')
if [[ -z $mirror ]]; then
    echo "docker-smoke: apt's sources name no Debian mirror to debootstrap bookworm from" >&2
    exit 1
fi
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
}
# As Debian's own images do: no downloaded packages or package lists in the base.
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null

echo "docker-smoke: downloading the image's wheels (Python 3.11, glibc x86_64) into wheels/"
rm -rf wheels
"$python" -m pip download --dest wheels --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --constraint constraints.txt ./client . setuptools >"$work/pip.log" 2>&1 || {
    tail -n 20 "$work/pip.log" >&2
    exit 1
}
# A CUDA torch (several GB) here would mean this machine's pip sees no CPU build of the pinned version.
if ! compgen -G 'wheels/torch-*+cpu-*.whl' >/dev/null; then
    echo "docker-smoke: pip chose no CPU build of torch: $(ls wheels/torch-* 2>/dev/null)" >&2
    exit 1
fi

echo "docker-smoke: building $image"
docker build --network host --build-arg BASE_IMAGE="$base" --build-arg PIP_NO_INDEX=1 --tag "$image" . \
    >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    echo "docker-smoke: docker build failed (the last lines of its log are above)" >&2
    exit 1
}
size_mb=$(($(docker image inspect --format '{{.Size}}' "$image") / 1000000))
base_mb=$(($(docker image inspect --format '{{.Size}}' "$base") / 1000000))
echo "docker-smoke: image size ${size_mb} MB, of which ${base_mb} MB is the base $base"
if ((size_mb > max_image_mb)); then
    echo "docker-smoke: the image is over ${max_image_mb} MB" >&2
    exit 1
fi

echo "docker-smoke: checking the image holds no build tools and runs as a non-root user"
docker run --rm --pull never --network none --entrypoint /bin/sh "$image" -c '
    set -eu
    [ "$(id -u)" -ne 0 ] || { echo "docker-smoke: the image runs as root" >&2; exit 1; }
    for tool in gcc cc g++ make pip pip3; do
        if command -v "$tool" >/dev/null; then echo "docker-smoke: the image holds $tool" >&2; exit 1; fi
    done
    for dir in /root/.cache /tmp/pip /srv/cvae/wheels /srv/cvae/tests /srv/cvae/data; do
        if [ -e "$dir" ]; then echo "docker-smoke: the image holds $dir" >&2; exit 1; fi
    done'

echo "docker-smoke: serving"
# The image's own CMD and HEALTHCHECK, the latter probing every 2 s instead of 30 s.
container=$(docker run --detach --pull never --network host --health-interval 2s "$image")
health_format='{{if .State.Health}}{{.State.Health.Status}}{{else}}no HEALTHCHECK{{end}}'
for _ in $(seq 90); do
    health=$(docker inspect --format "$health_format" "$container")
    [[ $health == healthy || $(docker inspect --format '{{.State.Running}}' "$container") == false ]] && break
    sleep 1
done
if [[ $health != healthy ]]; then
    docker logs "$container" 2>&1 | tail -n 20 >&2
    echo "docker-smoke: the container did not become healthy (health: $health; its log is above)" >&2
    exit 1
fi
"$python" docker/smoke_client.py http://127.0.0.1:8000
# SIGTERM must reach the server as PID 1 and end it cleanly, as an orchestrator's stop would.
docker stop "$container" >/dev/null
exit_code=$(docker inspect --format '{{.State.ExitCode}}' "$container")
if [[ $exit_code != 0 ]]; then
    echo "docker-smoke: the container exited with status $exit_code on docker stop" >&2
    exit 1
fi

echo "docker-smoke: passed in $((SECONDS - started)) s"
