# The node's end of the relay to the farm's services (see benchfarm/nodes/link.py): for each
# PORT:TARGET:PORT in BENCHFARM_NODE_FORWARD, Debian's socat listens on the node's own 127.0.0.1:PORT
# and forwards to the host's node gateway (BENCHFARM_NODE_HOST_ADDRESS, the node network's gateway),
# where the stack's node-gateway service relays on to the service on the host's loopback. So a node's
# worker, minion and engine use 127.0.0.1:<port> exactly as the host does.
# One socat per port; when one dies, the others are stopped and the script exits, so the node's
# supervisor restarts them together (with back-off).
gateway="${BENCHFARM_NODE_HOST_ADDRESS:?BENCHFARM_NODE_HOST_ADDRESS is not set (the gateway of the node network)}"
read -r -a specs <<< "${BENCHFARM_NODE_FORWARD:-}"
(( ${#specs[@]} )) || { echo "forward: BENCHFARM_NODE_FORWARD names no port; nothing to relay" >&2; exec sleep infinity; }
pids=()
for spec in "${specs[@]}"; do
  port=${spec%%:*}
  [[ $port =~ ^[0-9]+$ ]] || { echo "forward: bad entry $spec (want PORT:TARGET:PORT)" >&2; exit 2; }
  socat -d "TCP4-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=128" "TCP4:$gateway:$port" &
  pids+=($!)
  echo "forward: 127.0.0.1:$port -> $gateway:$port (pid $!)"
done
trap 'kill "${pids[@]}" 2>/dev/null; wait; exit 0' TERM INT
wait -n
echo "forward: a relay exited; stopping the others" >&2
kill "${pids[@]}" 2>/dev/null
wait
exit 1
