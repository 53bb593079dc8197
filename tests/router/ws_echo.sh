#!/bin/sh
# A WebSocket echo server for short ASCII text frames, in busybox sh (run by `busybox nc -ll -e`):
# enough to prove that an upgrade and frames in both directions pass through the router.
key=""
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in
    [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(printf '%s' "${line#*:}" | tr -d ' ') ;;
  esac
done
accept=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | busybox sha1sum | cut -d' ' -f1 | busybox xxd -r -p | busybox base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
while true; do
  # Frame head from a client: FIN+opcode, MASK+length, then four mask bytes.
  set -- $(busybox dd bs=1 count=6 2>/dev/null | busybox od -An -tu1)
  [ $# -eq 6 ] || exit 0
  opcode=$(($1 & 15))
  length=$(($2 & 127))
  mask="$3 $4 $5 $6"
  payload=$(busybox dd bs=1 count="$length" 2>/dev/null | busybox od -An -tu1)
  if [ "$opcode" -eq 8 ]; then
    printf '\210\000'
    exit 0
  fi
  unmasked=$(echo $payload | busybox awk -v m="$mask" '{split(m, k, " "); for (i = 1; i <= NF; i++) printf "\\%03o", xor($i, k[(i - 1) % 4 + 1])}')
  printf "\\201\\$(printf '%03o' "$length")$unmasked"
done
