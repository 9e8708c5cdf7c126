#!/usr/bin/env bash
# Apache Kafka (KRaft) on 127.0.0.1: one node, or a replicated cluster.
#
#   deploy/kafka/local.sh [--brokers N] start|stop|status|restart|bootstrap|ports|fetch
#   deploy/kafka/local.sh --brokers N node-start|node-stop|node-kill|node-pid NODE
#
# One node (the default): broker and controller in one process, replication factor 1.
# --brokers N (N >= 2, or MODWATCH_KAFKA_BROKERS=N): N brokers and a quorum of three
# controllers (MODWATCH_KAFKA_CONTROLLERS), each its own process with its own ports and
# data folder, and the topic defaults of a production cluster: replication factor
# min(3, N), min.insync.replicas 2, unclean leader election off. NODE is broker-I or
# controller-I (from 1); node-kill is kill -9, for failure drills and tests.
#
# The jars come from Maven Central through pom.xml (mvn dependency:copy-dependencies)
# and are cached under deploy/kafka/.cache/. Everything a node writes (storage,
# its log, its pid file) lives under the data folder, so `stop` followed by removing
# that folder leaves nothing behind.
#
# Environment:
#   MODWATCH_KAFKA_PORT      client port (default 9092); the controller uses port+1, except
#                            beside the default 9092, where it uses 9193: 9093 is Alertmanager's
#   MODWATCH_KAFKA_CONTROLLER_PORT  the KRaft controller's port, instead of the above
#   MODWATCH_KAFKA_DATA      data folder (default deploy/kafka/.data-<port>, or
#                            deploy/kafka/.data-cluster-<port> for a cluster)
#   MODWATCH_KAFKA_HEAP      JVM heap of a broker (default 512m; 384m in a cluster)
#   MODWATCH_KAFKA_WAIT      seconds to wait for metadata answers on start (default 90)
#   MODWATCH_KAFKA_SCRAM_USER, MODWATCH_KAFKA_SCRAM_PASSWORD
#                            also listen with SASL_PLAINTEXT (SCRAM-SHA-512) on port+2 for
#                            this user, created when the storage is formatted (a fresh
#                            data folder); the plaintext port stays for the health check.
#                            One node only.
# A cluster also reads:
#   MODWATCH_KAFKA_BROKERS           how many brokers (as --brokers)
#   MODWATCH_KAFKA_CONTROLLERS       how many controllers (default 3; 1 gives no controller failover)
#   MODWATCH_KAFKA_PORTS             the brokers' client ports, comma-separated (default
#                                    port, port+100, port+200, ...)
#   MODWATCH_KAFKA_CONTROLLER_PORTS  the controllers' ports, likewise (default controller
#                                    port, +100, +200, ...)
#   MODWATCH_KAFKA_CONTROLLER_HEAP   JVM heap of a controller (default 256m)
#   MODWATCH_KAFKA_MIN_INSYNC        min.insync.replicas (default 2)
set -euo pipefail

KAFKA_VERSION=4.1.1   # keep in step with pom.xml and docker-compose.yml
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

brokers="${MODWATCH_KAFKA_BROKERS:-1}"
if [ "${1:-}" = "--brokers" ]; then brokers="${2:-}"; shift 2 || true; fi
whole_number() {  # $1: what, $2: value; the value in base 10 (08 is eight), or exit 2
  case "$2" in ''|*[!0-9]*) echo "local-kafka: $1 wants a whole number from 1, not '$2'" >&2; exit 2 ;; esac
  [ $((10#$2)) -ge 1 ] || { echo "local-kafka: $1 wants a whole number from 1, not '$2'" >&2; exit 2; }
  echo $((10#$2))
}
brokers="$(whole_number --brokers "$brokers")"

port="${MODWATCH_KAFKA_PORT:-9092}"
if [ -n "${MODWATCH_KAFKA_CONTROLLER_PORT:-}" ]; then
  controller_port="$MODWATCH_KAFKA_CONTROLLER_PORT"
elif [ "$port" = 9092 ]; then
  controller_port=9193  # 9093 is Alertmanager's default port (deploy/prometheus/prometheus.yml)
else
  controller_port=$((port + 1))
fi
if [ "$brokers" -gt 1 ]; then
  data="${MODWATCH_KAFKA_DATA:-$here/.data-cluster-$port}"
  heap="${MODWATCH_KAFKA_HEAP:-384m}"
else
  data="${MODWATCH_KAFKA_DATA:-$here/.data-$port}"
  heap="${MODWATCH_KAFKA_HEAP:-512m}"
fi
libs="$here/.cache/libs"
scram_user="${MODWATCH_KAFKA_SCRAM_USER:-}"
scram_password="${MODWATCH_KAFKA_SCRAM_PASSWORD:-}"
sasl_port=$((port + 2))
wait_seconds="${MODWATCH_KAFKA_WAIT:-90}"
controllers="$(whole_number MODWATCH_KAFKA_CONTROLLERS "${MODWATCH_KAFKA_CONTROLLERS:-3}")"
controller_heap="${MODWATCH_KAFKA_CONTROLLER_HEAP:-256m}"
min_insync="${MODWATCH_KAFKA_MIN_INSYNC:-2}"
# A cluster's replication factor: three copies, or one per broker when there are fewer.
replicas=$(( brokers < 3 ? brokers : 3 ))

say() { echo "local-kafka: $*" >&2; }

fetch_jars() {
  if [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn is not installed; it fetches the Kafka jars"; exit 1; }
  command -v java >/dev/null || { say "java (17+) is not installed"; exit 1; }
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >&2
}

# --- one process: its folder holds server.properties, storage/, kafka.log and kafka.pid -----

node_pid() {  # the pid of the node in folder $1, if it is running
  local pidfile="$1/kafka.pid"
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  # The pid must still be our broker, not a recycled number.
  if kill -0 "$pid" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"; return 0
  fi
  return 1
}

java_options() {  # sets java_opts for node folder $1 and heap $2. -XX:-UsePerfData: no hsperfdata files in /tmp.
  java_opts=(-Xms"$2" -Xmx"$2" -XX:+UseG1GC -XX:-UsePerfData -Djava.awt.headless=true
             -Dlog4j2.configurationFile="$here/log4j2.properties" -Dmodwatch.kafka.log="$1/kafka.log")
}

format_storage() {  # $1: node folder, $2: cluster id, then extra StorageTool arguments
  local folder="$1" cluster_id="$2"; shift 2
  [ -f "$folder/storage/meta.properties" ] && return 0
  say "formatting KRaft storage in $folder/storage"
  local java_opts; java_options "$folder" 128m
  java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
    --config "$folder/server.properties" --cluster-id "$cluster_id" "$@" >>"$folder/kafka.log" 2>&1 \
    || { say "formatting failed; see $folder/kafka.log"; tail -n 20 "$folder/kafka.log" >&2; exit 1; }
}

launch() {  # $1: node folder, $2: heap
  local java_opts; java_options "$1" "$2"
  nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$1/server.properties" \
    >>"$1/kafka.log" 2>&1 </dev/null &
  echo $! >"$1/kafka.pid"
}

stop_node() {  # $1: node folder, $2: what to call it
  local pid
  if ! pid="$(node_pid "$1")"; then rm -f "$1/kafka.pid"; return 0; fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$2 did not stop within 30s; killing it"; kill -9 "$pid" || true
  fi
  rm -f "$1/kafka.pid"
}

answers_metadata() {  # $1: host:port; prints the brokers the answer lists
  # A real Metadata round trip, not just an open port.
  # Standard library only: it runs before modwatch or any package is installed.
  python3 "$here/../../streams/kafka_probe.py" "$1" 2 2>/dev/null
}

wait_for_metadata() {  # $1: node folder, $2: host:port, $3: brokers the answer must list
  local deadline=$((SECONDS + wait_seconds)) listed
  until listed="$(answers_metadata "$2")" && [ "$(grep -c '^broker ' <<<"$listed")" -ge "$3" ]; do
    if ! node_pid "$1" >/dev/null; then
      say "broker exited during start-up; last log lines:"; tail -n 30 "$1/kafka.log" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "broker on $2 did not list $3 broker(s) within ${wait_seconds}s; see $1/kafka.log"; exit 1
    fi
    sleep 1
  done
}

# Settings every node of either shape shares.
common_config() {
  cat <<EOF
controller.listener.names=CONTROLLER
num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# Posts may carry images of up to 10 MiB (base64: 13.4 MiB); the default is 1 MiB.
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
EOF
}

# --- one node: broker and controller in one process --------------------------------------------

write_single_config() {
  mkdir -p "$data/storage"
  local sasl_listener=""
  if [ -n "$scram_user" ]; then
    [ -n "$scram_password" ] || { say "MODWATCH_KAFKA_SCRAM_PASSWORD is required with MODWATCH_KAFKA_SCRAM_USER"; exit 1; }
    sasl_listener=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
  fi
  {
    cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port$sasl_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$port$sasl_listener
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/storage
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
    common_config
    if [ -n "$scram_user" ]; then
      cat <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
    fi
  } >"$data/server.properties"
}

start_single() {
  if pid="$(node_pid "$data")"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  fetch_jars
  write_single_config
  if [ ! -f "$data/storage/meta.properties" ]; then
    local cluster_id scram=()
    cluster_id="$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>>"$data/kafka.log")"
    if [ -n "$scram_user" ]; then
      scram=(--add-scram "SCRAM-SHA-512=[name=$scram_user,password=$scram_password]")
    fi
    format_storage "$data" "$cluster_id" "${scram[@]}"
  fi
  say "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$port (log: $data/kafka.log)"
  launch "$data" "$heap"
  wait_for_metadata "$data" "127.0.0.1:$port" 1
  say "ready on 127.0.0.1:$port${scram_user:+ (SASL_PLAINTEXT SCRAM-SHA-512 for $scram_user on 127.0.0.1:$sasl_port)}"
}

stop_single() {
  if ! node_pid "$data" >/dev/null; then
    rm -f "$data/kafka.pid"; say "not running"; return 0
  fi
  stop_node "$data" broker
  say "stopped"
}

status_single() {
  if pid="$(node_pid "$data")"; then
    if answers_metadata "127.0.0.1:$port" >/dev/null; then say "running (pid $pid) and answering on 127.0.0.1:$port"; return 0; fi
    say "process $pid is up but not answering on 127.0.0.1:$port"; return 1
  fi
  say "not running"; return 3
}

# --- a cluster: N brokers and a quorum of controllers, a process and a folder each -------------

ports_list() {  # $1: explicit comma list or "", $2: first port, $3: how many
  if [ -n "$1" ]; then tr ',' ' ' <<<"$1"; return 0; fi
  local i; for ((i = 0; i < $3; i++)); do printf '%s ' $(($2 + 100 * i)); done
}
read -r -a broker_ports <<<"$(ports_list "${MODWATCH_KAFKA_PORTS:-}" "$port" "$brokers")"
read -r -a controller_ports <<<"$(ports_list "${MODWATCH_KAFKA_CONTROLLER_PORTS:-}" "$controller_port" "$controllers")"

cluster_checks() {
  [ -z "$scram_user" ] || { say "SCRAM is for one node only; start the cluster without MODWATCH_KAFKA_SCRAM_USER"; exit 2; }
  [ "${#broker_ports[@]}" -eq "$brokers" ] || { say "MODWATCH_KAFKA_PORTS lists ${#broker_ports[@]} ports for $brokers brokers"; exit 2; }
  [ "${#controller_ports[@]}" -eq "$controllers" ] \
    || { say "MODWATCH_KAFKA_CONTROLLER_PORTS lists ${#controller_ports[@]} ports for $controllers controllers"; exit 2; }
  [ "$min_insync" -le "$replicas" ] || { say "MODWATCH_KAFKA_MIN_INSYNC=$min_insync is more than the $replicas replicas"; exit 2; }
}

voters() {  # controller node ids are 101, 102, ...: brokers keep 1..N
  local i out=""
  for ((i = 0; i < controllers; i++)); do out+="${out:+,}$((101 + i))@127.0.0.1:${controller_ports[$i]}"; done
  echo "$out"
}

# What a production cluster sets; docs/operations.md ("A replicated cluster") explains each.
cluster_topic_defaults() {
  cat <<EOF
default.replication.factor=$replicas
min.insync.replicas=$min_insync
unclean.leader.election.enable=false
offsets.topic.replication.factor=$replicas
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_insync
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$min_insync
EOF
}

write_controller_config() {  # $1: index from 0
  local folder="$data/controller-$(($1 + 1))"
  mkdir -p "$folder/storage"
  {
    cat <<EOF
process.roles=controller
node.id=$((101 + $1))
controller.quorum.voters=$(voters)
listeners=CONTROLLER://127.0.0.1:${controller_ports[$1]}
listener.security.protocol.map=CONTROLLER:PLAINTEXT
log.dirs=$folder/storage
EOF
    common_config
    cluster_topic_defaults
  } >"$folder/server.properties"
}

write_broker_config() {  # $1: index from 0
  local folder="$data/broker-$(($1 + 1))"
  mkdir -p "$folder/storage"
  {
    cat <<EOF
process.roles=broker
node.id=$(($1 + 1))
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:${broker_ports[$1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${broker_ports[$1]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$folder/storage
EOF
    common_config
    cluster_topic_defaults
  } >"$folder/server.properties"
}

node_folder() {  # broker-I or controller-I -> its folder, if the cluster has it
  local index="${1##*-}"
  case "$1" in
    broker-[1-9]|broker-[1-9][0-9]) [ "$index" -le "$brokers" ] || { say "no $1 in a cluster of $brokers brokers"; exit 2; } ;;
    controller-[1-9]|controller-[1-9][0-9]) [ "$index" -le "$controllers" ] || { say "no $1 among $controllers controllers"; exit 2; } ;;
    *) say "NODE is broker-I or controller-I, not '$1'"; exit 2 ;;
  esac
  echo "$data/$1"
}

node_start() {  # $1: broker-I or controller-I, whose storage start has formatted
  local folder; folder="$(node_folder "$1")"
  if node_pid "$folder" >/dev/null; then return 0; fi
  [ -f "$folder/storage/meta.properties" ] || { say "$1 has no storage; run start first"; exit 1; }
  case "$1" in controller-*) launch "$folder" "$controller_heap" ;; *) launch "$folder" "$heap" ;; esac
}

cluster_bootstrap() {
  local out="" p
  for p in "${broker_ports[@]}"; do out+="${out:+,}127.0.0.1:$p"; done
  echo "$out"
}

start_cluster() {
  cluster_checks
  fetch_jars
  mkdir -p "$data"
  [ -s "$data/cluster.id" ] || java -cp "$libs/*" kafka.tools.StorageTool random-uuid >"$data/cluster.id" 2>/dev/null
  local i cluster_id formats=(); cluster_id="$(cat "$data/cluster.id")"
  # Formatting starts a JVM per node: side by side, not one after another.
  for ((i = 0; i < controllers; i++)); do
    write_controller_config "$i"; format_storage "$data/controller-$((i + 1))" "$cluster_id" & formats+=($!)
  done
  for ((i = 0; i < brokers; i++)); do
    write_broker_config "$i"; format_storage "$data/broker-$((i + 1))" "$cluster_id" & formats+=($!)
  done
  for i in "${formats[@]}"; do wait "$i" || exit 1; done
  say "starting Apache Kafka $KAFKA_VERSION: $controllers controllers, $brokers brokers on $(cluster_bootstrap) (logs: $data/*/kafka.log)"
  for ((i = 1; i <= controllers; i++)); do node_start "controller-$i"; done
  for ((i = 1; i <= brokers; i++)); do node_start "broker-$i"; done
  for ((i = 0; i < brokers; i++)); do
    wait_for_metadata "$data/broker-$((i + 1))" "127.0.0.1:${broker_ports[$i]}" "$brokers"
  done
  say "ready: $brokers brokers on $(cluster_bootstrap), replication factor $replicas, min.insync.replicas $min_insync"
}

stop_cluster() {
  local i
  # Brokers first: a broker's controlled shutdown hands its leaderships over through the controllers.
  for ((i = brokers; i >= 1; i--)); do stop_node "$data/broker-$i" "broker-$i"; done
  for ((i = controllers; i >= 1; i--)); do stop_node "$data/controller-$i" "controller-$i"; done
  say "stopped"
}

status_cluster() {
  local i up=0 answering=0
  for ((i = 0; i < brokers; i++)); do
    if node_pid "$data/broker-$((i + 1))" >/dev/null; then
      up=$((up + 1))
      answers_metadata "127.0.0.1:${broker_ports[$i]}" >/dev/null && answering=$((answering + 1))
    fi
  done
  say "$answering of $brokers brokers answering ($up running) on $(cluster_bootstrap)"
  [ "$answering" -eq "$brokers" ] && return 0
  [ "$up" -eq 0 ] && return 3
  return 1
}

node_kill() {  # kill -9: no controlled shutdown, as when a host dies
  local folder pid; folder="$(node_folder "$1")"
  if pid="$(node_pid "$folder")"; then kill -9 "$pid"; rm -f "$folder/kafka.pid"; fi
}

if [ "$brokers" -gt 1 ]; then
  case "${1:-}" in
    start) start_cluster ;;
    stop) stop_cluster ;;
    status) status_cluster ;;
    restart) stop_cluster; start_cluster ;;
    bootstrap) cluster_bootstrap ;;
    ports) echo "brokers ${broker_ports[*]} controllers ${controller_ports[*]}" ;;
    fetch) fetch_jars ;;
    node-start) node_start "${2:-}" ;;
    node-stop) folder="$(node_folder "${2:-}")"; stop_node "$folder" "$2" ;;
    node-kill) node_kill "${2:-}" ;;
    node-pid) folder="$(node_folder "${2:-}")"; node_pid "$folder" ;;
    *) echo "usage: $0 --brokers N start|stop|status|restart|bootstrap|ports|fetch|node-start|node-stop|node-kill|node-pid [NODE]" >&2
       exit 2 ;;
  esac
  exit 0
fi

case "${1:-}" in
  start) start_single ;;
  stop) stop_single ;;
  status) status_single ;;
  restart) stop_single; start_single ;;
  bootstrap) echo "127.0.0.1:$port" ;;
  ports) echo "client $port controller $controller_port sasl $sasl_port" ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 [--brokers N] start|stop|status|restart|bootstrap|ports|fetch" >&2; exit 2 ;;
esac
