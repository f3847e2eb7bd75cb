#!/usr/bin/env bash
# Installs and starts everything the test suite talks to, from nothing, idempotently:
# Docker Engine, Podman (Docker-compatible socket), PostgreSQL 15, Debian's docker-compose, and
# the local busybox image (no registry is reachable, so images are built from local files).
# Safe to run again: each step checks before it acts.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v podman >/dev/null || need+=(podman golang-github-containernetworking-plugin-dnsname)
# Podman's `init: true` runs catatonit as PID 1 (Docker ships its own docker-init).
[ -x /usr/libexec/podman/catatonit ] || command -v catatonit >/dev/null || need+=(catatonit)
[ -x /usr/bin/busybox ] && /usr/bin/busybox --list 2>/dev/null | grep -q '^httpd$' || need+=(busybox-static)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
# The dashboard's browser tests drive Debian's Chromium (Playwright cannot download a browser here).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Podman's defaults fail on this kind of machine (ulimits and crun); see DEVELOPERS notes.
mkdir -p /etc/containers
if ! grep -q 'default_ulimits' /etc/containers/containers.conf 2>/dev/null; then
  cat >/etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
fi

# Docker Engine
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (setsid dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { cat /tmp/dockerd.log; echo "dockerd did not start" >&2; exit 1; }
fi

# Podman's Docker-compatible API socket
PODMAN_SOCK=/run/podman/podman.sock
mkdir -p /run/podman
if ! curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; then
  log "starting podman system service"
  rm -f "$PODMAN_SOCK"
  (setsid podman system service --time=0 "unix://$PODMAN_SOCK" >/tmp/podman-service.log 2>&1 &)
  for _ in $(seq 1 60); do curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1 && break; sleep 1; done
  curl -sf --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null || { cat /tmp/podman-service.log; echo "podman service did not start" >&2; exit 1; }
fi

# PostgreSQL: a role and database for the tests.
if ! pg_lsclusters -h | grep -q 'online'; then
  log "starting postgresql"
  pg_ctlcluster 15 main start
fi
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='devarch'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE devarch LOGIN SUPERUSER PASSWORD 'devarch'\""
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='devarch_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O devarch devarch_test"

# The local test image: busybox with its applets, imported into both engines.
IMAGE=devarch-test/busybox:latest
if ! docker image inspect "$IMAGE" >/dev/null 2>&1 || ! podman image exists "$IMAGE"; then
  log "building $IMAGE"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/var/www" "$root/root"
  cp /usr/bin/busybox "$root/bin/busybox"
  for applet in $(/usr/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -cf /tmp/devarch-busybox.tar .
  docker image inspect "$IMAGE" >/dev/null 2>&1 || docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["sh"]' /tmp/devarch-busybox.tar "$IMAGE" >/dev/null
  podman image exists "$IMAGE" || podman import \
    -c 'ENV PATH=/bin' -c 'CMD ["sh"]' /tmp/devarch-busybox.tar "$IMAGE" >/dev/null
  rm -rf "$root"
fi
log "engines ready: docker $(docker version -f '{{.Server.Version}}'), podman $(podman version -f '{{.Version}}'), $IMAGE"

# --- A second Docker engine and an SSH endpoint (issue 15: engines; see docs/engines.md) -------
# A second dockerd in its own network namespace (devarch2), so it has its own host ports: two
# stacks on the two engines can publish the same host port, as on two machines. Its API is on
# its own unix socket and on tcp://127.0.0.1:23750 (socat forwards loopback into the namespace).
# Own --data-root, --exec-root, --pidfile and bridge (10.231.0.1/24, made by dockerd in the ns).
DOCKER2_SOCK=/run/devarch-docker2.sock
DOCKER2_TCP=127.0.0.1:23750
command -v socat >/dev/null && command -v sshd >/dev/null || {
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends socat openssh-server >/dev/null
}
if ! docker -H "unix://$DOCKER2_SOCK" info >/dev/null 2>&1; then
  log "starting the second dockerd (netns devarch2)"
  ip netns list | grep -qw devarch2 || ip netns add devarch2
  if ! ip link show devarch-v2h >/dev/null 2>&1; then
    ip link add devarch-v2h type veth peer name devarch-v2n
    ip link set devarch-v2n netns devarch2
    ip addr add 10.231.1.1/30 dev devarch-v2h
    ip link set devarch-v2h up
  fi
  ip netns exec devarch2 sh -c 'ip addr show devarch-v2n | grep -q 10.231.1.2 \
    || ip addr add 10.231.1.2/30 dev devarch-v2n; ip link set devarch-v2n up; ip link set lo up'
  mkdir -p /var/lib/devarch-docker2 /run/devarch-docker2
  rm -f "$DOCKER2_SOCK"
  # nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup mounts from dockerd.
  (setsid nsenter --net=/run/netns/devarch2 dockerd \
      -H "unix://$DOCKER2_SOCK" -H tcp://10.231.1.2:23750 \
      --data-root /var/lib/devarch-docker2 --exec-root /run/devarch-docker2 \
      --pidfile /run/devarch-docker2.pid --bip 10.231.0.1/24 \
      >/tmp/dockerd2.log 2>&1 &)
  for _ in $(seq 1 60); do docker -H "unix://$DOCKER2_SOCK" info >/dev/null 2>&1 && break; sleep 1; done
  docker -H "unix://$DOCKER2_SOCK" info >/dev/null 2>&1 \
    || { cat /tmp/dockerd2.log; echo "the second dockerd did not start" >&2; exit 1; }
fi
if ! curl -sf "http://$DOCKER2_TCP/_ping" >/dev/null 2>&1; then
  log "forwarding $DOCKER2_TCP to the second dockerd"
  (setsid socat "TCP-LISTEN:${DOCKER2_TCP##*:},bind=${DOCKER2_TCP%:*},reuseaddr,fork" \
      TCP:10.231.1.2:23750 >/tmp/devarch-docker2-socat.log 2>&1 &)
  for _ in $(seq 1 20); do curl -sf "http://$DOCKER2_TCP/_ping" >/dev/null 2>&1 && break; sleep 0.5; done
fi
if ! docker -H "tcp://$DOCKER2_TCP" image inspect "$IMAGE" >/dev/null 2>&1; then
  log "importing $IMAGE into the second dockerd"
  docker image save "$IMAGE" | docker -H "tcp://$DOCKER2_TCP" image load >/dev/null
fi

# sshd on 127.0.0.1:2222 with a throw-away key for root: the SSH engine (ssh://root@127.0.0.1:2222)
# reaches the first dockerd through `docker system dial-stdio` on the "remote" side.
SSH_DIR=/etc/devarch-sshd
if ! (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null; then
  log "starting sshd on 127.0.0.1:2222"
  mkdir -p "$SSH_DIR" /run/sshd /root/.ssh
  [ -f "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_ed25519"
  [ -f "$SSH_DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/client_ed25519"
  chmod 0600 "$SSH_DIR/client_ed25519"
  cp "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/authorized_keys"
  cat >"$SSH_DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1:2222
HostKey $SSH_DIR/host_ed25519
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
UsePAM no
PidFile /run/devarch-sshd.pid
SetEnv PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
CONF
  /usr/sbin/sshd -f "$SSH_DIR/sshd_config"
fi
log "second engine ready: docker at tcp://$DOCKER2_TCP and unix://$DOCKER2_SOCK; sshd at 127.0.0.1:2222 (key $SSH_DIR/client_ed25519)"

# --- Docker Swarm (issue 16): a third dockerd, initialised as a single-node swarm ------------------
# Its own data root, exec root, pidfile, socket and bridge, so the plain Docker tests keep the
# first engine (and the engines tests their second one on tcp://127.0.0.1:23750). SwarmRuntime's
# tests use DEVARCH_SWARM_URL (default unix:///run/devarch-swarm/docker.sock). See docs/swarm.md.
SWARM_SOCK=/run/devarch-swarm/docker.sock
SWARM_DOCKER=(docker -H "unix://$SWARM_SOCK")
if ! "${SWARM_DOCKER[@]}" info >/dev/null 2>&1; then
  log "starting the swarm dockerd on $SWARM_SOCK"
  mkdir -p /run/devarch-swarm /var/lib/devarch-swarm
  # Its own bridge interface and subnet (dockerd creates only docker0 itself; -b and --bip exclude
  # each other, so the address goes on the bridge).
  ip link show devarch-swarm0 >/dev/null 2>&1 || ip link add devarch-swarm0 type bridge
  ip -4 addr show dev devarch-swarm0 | grep -q 10.232.0.1/24 \
    || ip addr add 10.232.0.1/24 dev devarch-swarm0
  ip link set devarch-swarm0 up
  rm -f "$SWARM_SOCK"
  (setsid dockerd --host "unix://$SWARM_SOCK" --data-root /var/lib/devarch-swarm \
    --exec-root /run/devarch-swarm/exec --pidfile /run/devarch-swarm/docker.pid \
    --bridge devarch-swarm0 \
    >/tmp/dockerd-swarm.log 2>&1 &)
  for _ in $(seq 1 60); do "${SWARM_DOCKER[@]}" info >/dev/null 2>&1 && break; sleep 1; done
  "${SWARM_DOCKER[@]}" info >/dev/null 2>&1 || { cat /tmp/dockerd-swarm.log; echo "the swarm dockerd did not start" >&2; exit 1; }
fi
if [ "$("${SWARM_DOCKER[@]}" info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "docker swarm init on $SWARM_SOCK"
  "${SWARM_DOCKER[@]}" swarm init --advertise-addr 127.0.0.1 \
    --default-addr-pool 10.233.0.0/16 >/dev/null
fi
if ! "${SWARM_DOCKER[@]}" image inspect "$IMAGE" >/dev/null 2>&1; then
  log "importing $IMAGE into the swarm engine"
  docker save "$IMAGE" | "${SWARM_DOCKER[@]}" load >/dev/null
fi
log "swarm ready: $("${SWARM_DOCKER[@]}" info -f '{{.Swarm.LocalNodeState}} node {{.Swarm.NodeID}}') on $SWARM_SOCK"
# --- end Docker Swarm ---------------------------------------------------------------------------------
