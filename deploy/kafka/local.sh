#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft: broker and controller in one process) on 127.0.0.1.
#
#   deploy/kafka/local.sh start|stop|status|bootstrap
#
# The jars come from Maven Central through pom.xml (mvn dependency:copy-dependencies)
# and are cached under deploy/kafka/.cache/. Everything the broker writes (storage,
# its log, its pid file) lives under the data folder, so `stop` followed by removing
# that folder leaves nothing behind.
#
# Environment:
#   MODWATCH_KAFKA_PORT      client port (default 9092); the controller uses port+1, except
#                            beside the default 9092, where it uses 9193: 9093 is Alertmanager's
#   MODWATCH_KAFKA_CONTROLLER_PORT  the KRaft controller's port, instead of the above
#   MODWATCH_KAFKA_DATA      data folder (default deploy/kafka/.data-<port>)
#   MODWATCH_KAFKA_HEAP      JVM heap (default 512m)
#   MODWATCH_KAFKA_WAIT      seconds to wait for metadata answers on start (default 90)
#   MODWATCH_KAFKA_SCRAM_USER, MODWATCH_KAFKA_SCRAM_PASSWORD
#                            also listen with SASL_PLAINTEXT (SCRAM-SHA-512) on port+2 for
#                            this user, created when the storage is formatted (a fresh
#                            data folder); the plaintext port stays for the health check
set -euo pipefail

KAFKA_VERSION=4.1.1   # keep in step with pom.xml and docker-compose.yml
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${MODWATCH_KAFKA_PORT:-9092}"
if [ -n "${MODWATCH_KAFKA_CONTROLLER_PORT:-}" ]; then
  controller_port="$MODWATCH_KAFKA_CONTROLLER_PORT"
elif [ "$port" = 9092 ]; then
  controller_port=9193  # 9093 is Alertmanager's default port (deploy/prometheus/prometheus.yml)
else
  controller_port=$((port + 1))
fi
data="${MODWATCH_KAFKA_DATA:-$here/.data-$port}"
libs="$here/.cache/libs"
pidfile="$data/kafka.pid"
logfile="$data/kafka.log"
heap="${MODWATCH_KAFKA_HEAP:-512m}"
scram_user="${MODWATCH_KAFKA_SCRAM_USER:-}"
scram_password="${MODWATCH_KAFKA_SCRAM_PASSWORD:-}"
sasl_port=$((port + 2))
wait_seconds="${MODWATCH_KAFKA_WAIT:-90}"

say() { echo "local-kafka: $*" >&2; }

fetch_jars() {
  if [ -f "$libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then return 0; fi
  command -v mvn >/dev/null || { say "mvn is not installed; it fetches the Kafka jars"; exit 1; }
  command -v java >/dev/null || { say "java (17+) is not installed"; exit 1; }
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" -DincludeScope=runtime >&2
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  # The pid must still be our broker, not a recycled number.
  if kill -0 "$pid" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"; return 0
  fi
  return 1
}

answers_metadata() {
  # A real Metadata round trip, not just an open port.
  # Standard library only: it runs before modwatch or any package is installed.
  python3 "$here/../../streams/kafka_probe.py" "127.0.0.1:$port" 2 >/dev/null 2>&1
}

write_config() {
  mkdir -p "$data/storage"
  local sasl_listener=""
  if [ -n "$scram_user" ]; then
    [ -n "$scram_password" ] || { say "MODWATCH_KAFKA_SCRAM_PASSWORD is required with MODWATCH_KAFKA_SCRAM_USER"; exit 1; }
    sasl_listener=",SASL_PLAINTEXT://127.0.0.1:$sasl_port"
  fi
  cat >"$data/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port$sasl_listener
advertised.listeners=PLAINTEXT://127.0.0.1:$port$sasl_listener
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/storage
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
# Posts may carry images of up to 10 MiB (base64: 13.4 MiB); the default is 1 MiB.
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
EOF
  if [ -n "$scram_user" ]; then
    cat >>"$data/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
}

start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  fetch_jars
  write_config
  # -XX:-UsePerfData: no hsperfdata files in /tmp; everything stays in the data folder.
  local java_opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:-UsePerfData -Djava.awt.headless=true
                   -Dlog4j2.configurationFile="$here/log4j2.properties"
                   -Dmodwatch.kafka.log="$logfile")
  if [ ! -f "$data/storage/meta.properties" ]; then
    say "formatting KRaft storage in $data/storage"
    local cluster_id
    cluster_id="$(java -cp "$libs/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>>"$logfile")"
    local scram=()
    if [ -n "$scram_user" ]; then
      scram=(--add-scram "SCRAM-SHA-512=[name=$scram_user,password=$scram_password]")
    fi
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
      --config "$data/server.properties" --cluster-id "$cluster_id" "${scram[@]}" >>"$logfile" 2>&1 \
      || { say "formatting failed; see $logfile"; tail -n 20 "$logfile" >&2; exit 1; }
  fi
  say "starting Apache Kafka $KAFKA_VERSION on 127.0.0.1:$port (log: $logfile)"
  nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$data/server.properties" \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + wait_seconds))
  until answers_metadata; do
    if ! running_pid >/dev/null; then
      say "broker exited during start-up; last log lines:"; tail -n 30 "$logfile" >&2; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      say "broker did not answer metadata requests within ${wait_seconds}s; see $logfile"; exit 1
    fi
    sleep 1
  done
  say "ready on 127.0.0.1:$port${scram_user:+ (SASL_PLAINTEXT SCRAM-SHA-512 for $scram_user on 127.0.0.1:$sasl_port)}"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pidfile"; say "not running"; return 0
  fi
  kill "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker did not stop within 30s; killing it"; kill -9 "$pid" || true
  fi
  rm -f "$pidfile"
  say "stopped"
}

status() {
  if pid="$(running_pid)"; then
    if answers_metadata; then say "running (pid $pid) and answering on 127.0.0.1:$port"; return 0; fi
    say "process $pid is up but not answering on 127.0.0.1:$port"; return 1
  fi
  say "not running"; return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  bootstrap) echo "127.0.0.1:$port" ;;
  ports) echo "client $port controller $controller_port sasl $sasl_port" ;;
  fetch) fetch_jars ;;
  *) echo "usage: $0 start|stop|status|restart|bootstrap|ports|fetch" >&2; exit 2 ;;
esac
