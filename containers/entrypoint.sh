#!/bin/sh
# Container entrypoint for relaynode (issue 8): renders the torrc, makes or imports the keys on
# first start, then execs the relay as PID 1 so SIGTERM reaches it directly.
#
#   (no args) or "run [FLAGS]"  start the relay; FLAGS go to `relaynode run`
#   anything else               `relaynode ARGS...` (e.g. `keys show --json`, `stats`)
#
# Configuration, in this order:
#   1. a mounted torrc at $RELAYNODE_TORRC (default /etc/relaynode/torrc) is used as it is;
#   2. otherwise the torrc is rendered from RELAYNODE_* variables (table in containers/README.md).
# Either way the effective file is written to $DATA/torrc (the HEALTHCHECK reads it there), with
# "DataDirectory $DATA" added when the source does not set one.
#
# Keys: the node database in $DATA holds them. When it has none yet, they are imported from a
# C tor keys directory at $RELAYNODE_KEYS_DIR (default /run/secrets/relaynode-keys; files may
# carry a "$RELAYNODE_KEYS_PREFIX." prefix so one Secret can serve a whole StatefulSet), or,
# when there are no such files, generated (RELAYNODE_KEYS_REQUIRED=1 makes that an error).
# An existing database is never replaced. Key material is never printed.
set -eu
umask 077

DATA=${RELAYNODE_DATA_DIRECTORY:-/var/lib/relaynode}
TORRC_SOURCE=${RELAYNODE_TORRC:-/etc/relaynode/torrc}
KEYS_DIR=${RELAYNODE_KEYS_DIR:-/run/secrets/relaynode-keys}
CONF="$DATA/torrc"

log() { echo "relaynode-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 64; }

if [ "$#" -gt 0 ] && [ "$1" != run ]; then
  exec relaynode "$@"
fi
[ "$#" -gt 0 ] && shift   # drop "run"; the rest are flags for `relaynode run`

[ -d "$DATA" ] || die "$DATA does not exist: mount the data volume there"
[ -w "$DATA" ] || die "$DATA is not writable by uid $(id -u): chown the volume to the relaynode user"
chmod 0700 "$DATA"

# One option per line; a value with a newline would smuggle in another option.
option() {  # option NAME VALUE
  case "$2" in *'
'*) die "the value for $1 must be one line" ;; esac
  printf '%s %s\n' "$1" "$2"
}
# Variables that may hold several lines, one option each (DirAuthority, ExitPolicy).
options() {  # options NAME VALUE
  printf '%s\n' "$2" | while IFS= read -r line; do
    case "$line" in ''|'#'*) ;; *) printf '%s %s\n' "$1" "$line" ;; esac
  done
}

render_from_env() {
  echo "# rendered by relaynode-entrypoint from RELAYNODE_* variables"
  # Tor nicknames are 1-19 letters and digits: "relaynode-0" (a pod name) becomes "relaynode0".
  nickname=$(printf '%s' "${RELAYNODE_NICKNAME:-relaynode}" | tr -cd 'A-Za-z0-9' | cut -c1-19)
  option Nickname "${nickname:-relaynode}"
  option ORPort "${RELAYNODE_ORPORT:-9001}"
  [ -n "${RELAYNODE_ADDRESS:-}" ] && option Address "$RELAYNODE_ADDRESS"
  [ -n "${RELAYNODE_CONTACT:-}" ] && option ContactInfo "$RELAYNODE_CONTACT"
  [ -n "${RELAYNODE_EXIT:-}" ] && option ExitRelay "$RELAYNODE_EXIT"
  [ -n "${RELAYNODE_EXIT_POLICY:-}" ] && options ExitPolicy "$RELAYNODE_EXIT_POLICY"
  [ -n "${RELAYNODE_EXIT_POLICY_REJECT_PRIVATE:-}" ] && option ExitPolicyRejectPrivate "$RELAYNODE_EXIT_POLICY_REJECT_PRIVATE"
  [ -n "${RELAYNODE_BANDWIDTH_RATE:-}" ] && option BandwidthRate "$RELAYNODE_BANDWIDTH_RATE"
  [ -n "${RELAYNODE_BANDWIDTH_BURST:-}" ] && option BandwidthBurst "$RELAYNODE_BANDWIDTH_BURST"
  [ -n "${RELAYNODE_MYFAMILY:-}" ] && option MyFamily "$RELAYNODE_MYFAMILY"
  [ -n "${RELAYNODE_NUMCPUS:-}" ] && option NumCPUs "$RELAYNODE_NUMCPUS"
  [ -n "${RELAYNODE_DIRAUTHORITY:-}" ] && options DirAuthority "$RELAYNODE_DIRAUTHORITY"
  [ -n "${RELAYNODE_PUBLISH_SERVER_DESCRIPTOR:-}" ] && option PublishServerDescriptor "$RELAYNODE_PUBLISH_SERVER_DESCRIPTOR"
  [ -n "${RELAYNODE_METRICSPORT:-}" ] && option MetricsPort "$RELAYNODE_METRICSPORT"
  [ -n "${RELAYNODE_METRICSPORT_POLICY:-}" ] && options MetricsPortPolicy "$RELAYNODE_METRICSPORT_POLICY"
  [ -n "${RELAYNODE_OFFLINE_MASTER_KEY:-}" ] && option OfflineMasterKey "$RELAYNODE_OFFLINE_MASTER_KEY"
  [ -n "${RELAYNODE_SIGNING_KEY_LIFETIME:-}" ] && option SigningKeyLifetime "$RELAYNODE_SIGNING_KEY_LIFETIME"
  [ -n "${RELAYNODE_TESTING_TOR_NETWORK:-}" ] && option TestingTorNetwork "$RELAYNODE_TESTING_TOR_NETWORK"
  [ -n "${RELAYNODE_ASSUME_REACHABLE:-}" ] && option AssumeReachable "$RELAYNODE_ASSUME_REACHABLE"
  # Anything else, verbatim (still checked by verify-config below).
  [ -n "${RELAYNODE_EXTRA_TORRC:-}" ] && printf '%s\n' "$RELAYNODE_EXTRA_TORRC"
  return 0
}

tmp="$CONF.new"
if [ -f "$TORRC_SOURCE" ]; then
  log "using the mounted configuration $TORRC_SOURCE"
  cat "$TORRC_SOURCE" > "$tmp"
else
  render_from_env > "$tmp"
fi
if ! grep -qi '^[[:space:]]*DataDirectory[[:space:]]' "$tmp"; then
  option DataDirectory "$DATA" >> "$tmp"
fi
relaynode verify-config --config "$tmp" >/dev/null || { rm -f "$tmp"; die "the configuration is not valid (see above)"; }
mv "$tmp" "$CONF"

if [ ! -f "$DATA/relay.sqlite3" ]; then
  prefix=${RELAYNODE_KEYS_PREFIX:+$RELAYNODE_KEYS_PREFIX.}
  found=0
  if [ -d "$KEYS_DIR" ]; then
    # Copy to a private directory inside the data volume first (the root file system may be
    # read-only): secret mounts are often group-readable (fsGroup), which the import refuses.
    staging=$(mktemp -d "$DATA/.keys-import.XXXXXX")
    trap 'rm -rf "$staging"' EXIT
    for f in "$KEYS_DIR/$prefix"*; do
      [ -f "$f" ] || continue
      name=$(basename "$f"); name=${name#"$prefix"}
      cat "$f" > "$staging/$name"
      found=$((found + 1))
    done
  fi
  if [ "$found" -gt 0 ]; then
    log "importing the relay identity from $KEYS_DIR ($found files)"
    relaynode keys import-ctor --config "$CONF" "$staging" >/dev/null
  elif [ "${RELAYNODE_KEYS_REQUIRED:-0}" = 1 ]; then
    die "RELAYNODE_KEYS_REQUIRED=1 but $KEYS_DIR has no key files${prefix:+ named ${prefix}*}"
  else
    log "no keys yet: generating a new relay identity in $DATA"
    relaynode keys generate --config "$CONF" >/dev/null
  fi
  if [ -n "${staging:-}" ]; then rm -rf "$staging"; trap - EXIT; fi
fi
log "relay $(relaynode keys show --json --config "$CONF" | sed -n 's/.*"rsa_fingerprint" *: *"\([0-9A-F]*\)".*/\1/p')"

exec relaynode run --config "$CONF" "$@"
