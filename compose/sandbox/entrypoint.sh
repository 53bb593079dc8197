#!/bin/bash
# Sandbox PID 1 (under tini): make cgroups writable, keep dockerd running, keep a login shell on the tty.
set -u

prepare_cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # cgroup v2: the root may hold no processes once controllers are delegated, so move ourselves to a leaf.
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
      >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    return
  fi
  # cgroup v1 without --privileged: each controller is mounted read-only; a bind remount flips only our view.
  for dir in /sys/fs/cgroup/*/; do
    mountpoint -q "$dir" && mount -o remount,bind,rw "$dir" 2>/dev/null
  done
  return 0
}

keep_dockerd_running() {
  while true; do
    # shellcheck disable=SC2086  # DOCKERD_ARGS is a list of flags
    dockerd --host=unix:///var/run/docker.sock ${DOCKERD_ARGS:-} >>/var/log/dockerd.log 2>&1
    echo "dockerd exited with $?; restarting" >>/var/log/dockerd.log
    sleep 1
  done
}

prepare_cgroups
keep_dockerd_running &

if [ ! -t 0 ]; then
  exec sleep infinity
fi
cd /root || exit 1
# The tty has no size until the first viewer attaches and sets one: start the shell then, so the welcome and the
# prompt reach that viewer instead of a terminal nobody reads (the engine keeps no log of it).
# Setting the size sends SIGWINCH, which ends the wait at once; the slow poll only covers a signal that came
# between the check and the wait. (Polling fast instead would cost every sandbox nobody views some CPU.)
trap : WINCH
until [ "$(stty size 2>/dev/null)" != "0 0" ]; do
  sleep 5 &
  wait $!
done
trap - WINCH
while true; do
  bash --login
  printf '\r\n(shell exited; a new one starts)\r\n'
done
