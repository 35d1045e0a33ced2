#!/usr/bin/env bash
# Build the test control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok)
# from the Go module proxy into $1/bin. The versions are pinned in this folder's go.mod files and their
# hashes in the go.sum beside them (the checksum database is not reachable from every machine: GOSUMDB
# is off, so a download that differs from go.sum fails the build).
set -euo pipefail
out=${1:?usage: build.sh <out-dir>}
here=$(cd "$(dirname "$0")" && pwd)
export GOSUMDB=off GOFLAGS="-mod=readonly -trimpath" CGO_ENABLED=0
# IDP_DR_GO_PARALLEL=1: one package at a time (a background build beside the tests).
par=${IDP_DR_GO_PARALLEL:+-p $IDP_DR_GO_PARALLEL}
mkdir -p "$out/bin.partial"
start=$SECONDS
(cd "$here/etcd" && go build $par -o "$out/bin.partial/etcd" .)
(cd "$here/kwok" && go build $par -o "$out/bin.partial/" sigs.k8s.io/kwok/cmd/kwok)
# The version the servers report (kubectl picks its client by it): the one go.mod pins.
version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/kubernetes/go.mod")
minor=$(echo "$version" | cut -d. -f2)
pkg=k8s.io/component-base/version
ldflags="-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
(cd "$here/kubernetes" && go build $par -ldflags "$ldflags" -o "$out/bin.partial/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
rm -rf "$out/bin" && mv "$out/bin.partial" "$out/bin"
echo "control plane built in $((SECONDS - start)) s: $out/bin"
