#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the launcher tests (tests/test_launchers.py), and its removal.
#
#   bash .ci/slurm.sh start   # as root: munged, slurmctld and slurmd; prints the line to export
#   bash .ci/slurm.sh stop    # stops all three and removes the state; nothing is left running
#
# Needs Debian's packages: apt-get install slurm-wlm munge (Open MPI, for mpirun, is openmpi-bin). The cluster's
# configuration, state and logs live in $JAXNET_SLURM_DIR (default /tmp/jaxnet-slurm); srun, sinfo and scontrol
# find it through SLURM_CONF="$JAXNET_SLURM_DIR/slurm.conf".
set -euo pipefail
DIR="${JAXNET_SLURM_DIR:-/tmp/jaxnet-slurm}"
export SLURM_CONF="$DIR/slurm.conf"

stop() {
  if [ -f "$SLURM_CONF" ]; then
    scontrol shutdown > /dev/null 2>&1 || true
  fi
  for pidfile in "$DIR/slurmctld.pid" "$DIR/slurmd.pid" "$DIR/munged.pid"; do
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2> /dev/null || true; fi
  done
  sleep 1
  pkill -f "slurmd -f $SLURM_CONF" 2> /dev/null || true
  pkill -f "slurmctld -f $SLURM_CONF" 2> /dev/null || true
  pkill -f "munged --pid-file $DIR/munged.pid" 2> /dev/null || true
  rm -rf "$DIR"
}

start() {
  if [ "$(id -u)" != 0 ]; then echo "slurm.sh start needs root (it runs munged as the munge user)" >&2; exit 1; fi
  for tool in munged slurmctld slurmd srun; do
    command -v "$tool" > /dev/null || { echo "$tool not found: apt-get install slurm-wlm munge" >&2; exit 1; }
  done
  stop
  mkdir -p "$DIR/state" "$DIR/spool" /run/munge /var/log/munge /var/lib/munge
  # munged refuses to run unless its folders belong to the munge user; it authenticates srun to slurmctld.
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    (command -v mungekey > /dev/null && mungekey --create --force) || create-munge-key -f
    chown munge:munge /etc/munge/munge.key
  fi
  touch "$DIR/munged.pid" && chown munge:munge "$DIR/munged.pid"
  runuser -u munge -- munged --force --pid-file "$DIR/munged.pid"
  host="$(hostname)"
  cat > "$SLURM_CONF" <<EOF
ClusterName=jaxnet
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 60); do  # the node registers within a few seconds
    if [ "$(sinfo -h -o %t 2> /dev/null)" = idle ]; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 1
  done
  echo "SLURM did not come up; logs in $DIR" >&2
  tail -5 "$DIR"/*.log >&2 || true
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: bash .ci/slurm.sh start|stop" >&2; exit 2 ;;
esac
