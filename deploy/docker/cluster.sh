#!/usr/bin/env bash
# A 3-member Concord cluster in containers on a user-defined Docker network,
# each member named $PREFIX1..3 and found by its peers through Docker's DNS.
#
#   deploy/docker/cluster.sh build      # scripts/build.sh, then the image $IMAGE
#   deploy/docker/cluster.sh up         # network, volumes, 3 members (builds the image if missing)
#   deploy/docker/cluster.sh endpoints  # the members' client URLs on the host, comma-separated
#   deploy/docker/cluster.sh down       # removes the members, their volumes and the network
#   deploy/docker/cluster.sh clean      # down, then removes the image
#
# Environment: IMAGE (concord:local), PREFIX (concord), NETWORK ($PREFIX-net),
# TOKEN (concord-docker). Client ports are published on 127.0.0.1 at ports
# Docker chooses (see endpoints); the metrics URL listens on 2381 inside.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-concord:local}
PREFIX=${PREFIX:-concord}
NETWORK=${NETWORK:-$PREFIX-net}
TOKEN=${TOKEN:-concord-docker}
MEMBERS=(1 2 3)

build() {
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' RETURN
	OUT="$ctx" scripts/build.sh >/dev/null
	rm -f "$ctx/concord-bench"
	mkdir "$ctx/data"
	# The legacy builder needs nothing pulled for FROM scratch; its
	# deprecation notice is shown only when the build fails.
	if ! DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build -q -t "$IMAGE" -f deploy/docker/Dockerfile "$ctx" >"$ctx/log" 2>&1; then
		cat "$ctx/log" >&2
		return 1
	fi
	echo "built $IMAGE"
}

initial_cluster() {
	local s=""
	for i in "${MEMBERS[@]}"; do
		s+="${s:+,}$PREFIX$i=http://$PREFIX$i:2380"
	done
	echo "$s"
}

up() {
	docker image inspect "$IMAGE" >/dev/null 2>&1 || build
	docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null
	local cluster
	cluster=$(initial_cluster)
	for i in "${MEMBERS[@]}"; do
		local name=$PREFIX$i
		docker run -d --name "$name" --hostname "$name" --network "$NETWORK" \
			--restart unless-stopped \
			-v "$name-data:/var/lib/concord" \
			-p 127.0.0.1::2379 \
			"$IMAGE" \
			--name="$name" \
			--listen-client-urls=http://0.0.0.0:2379 \
			--advertise-client-urls="http://$name:2379" \
			--listen-peer-urls=http://0.0.0.0:2380 \
			--initial-advertise-peer-urls="http://$name:2380" \
			--listen-metrics-urls=http://0.0.0.0:2381 \
			--initial-cluster="$cluster" \
			--initial-cluster-token="$TOKEN" \
			--initial-cluster-state=new >/dev/null
		echo "started $name"
	done
}

endpoints() {
	local s=""
	for i in "${MEMBERS[@]}"; do
		s+="${s:+,}http://$(docker port "$PREFIX$i" 2379/tcp | head -n1)"
	done
	echo "$s"
}

down() {
	for i in "${MEMBERS[@]}"; do
		docker rm -f "$PREFIX$i" >/dev/null 2>&1 || true
		docker volume rm "$PREFIX$i-data" >/dev/null 2>&1 || true
	done
	docker network rm "$NETWORK" >/dev/null 2>&1 || true
}

case "${1:-}" in
build) build ;;
up) up ;;
endpoints) endpoints ;;
down) down ;;
clean)
	down
	docker rmi "$IMAGE" >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 build|up|endpoints|down|clean" >&2
	exit 2
	;;
esac
