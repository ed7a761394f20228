# The seed's two job lines, copied verbatim from shared/seeds/000_0c73362e453212ac.txt
# (lines 46-48 and 54-57), preceded by the service they need.
zinit add service user.hero_embedder_server
zinit add job --exec "/root/hero/bin/hero_embedder_server serve" \
  --trigger start --restart on-failure --restart-delay 5000 --max-restarts 20 \
  user.hero_embedder_server main
zinit add job --trigger check --interval-ms 60000 --timeout-ms 30000 \
  --exec "echo '{\"jsonrpc\":\"2.0\",\"method\":\"server.health\",\"id\":1}' \
    | socat - UNIX-CONNECT:/root/hero/var/sockets/hero_embedder_server.sock" \
  user.hero_embedder_server check
