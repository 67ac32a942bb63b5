#!/bin/sh
# nginx as the HTTP benchmark's peer: writes a config into a fresh temporary directory and runs
# nginx in the foreground (no daemon) as one master and one worker, so the harness that started
# this script holds the master's pid (exec) and counts the worker as its child.
#
#   nginx.sh PORT ROOT
# What the config says and why: 1 worker (the server gets one CPU), access_log off and sendfile on
# (what a tuned static server runs with), keepalive_requests raised so that wrk's connections stay
# open as they do with couring-http (nginx 1.22 closes one after 1000 requests by default), and
# `user root` only so that the worker may read files in the build tree.
set -eu
port=$1
root=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/couring-bench-nginx.XXXXXX")
cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root;
  }
}
CONF
exec nginx -p "$dir" -c "$dir/nginx.conf"
