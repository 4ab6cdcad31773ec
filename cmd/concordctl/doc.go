// Command concordctl is Concord's command line client, command for command
// and flag for flag etcdctl v3, built on the official Go client so that it
// works against Concord and against etcd alike. See package ctl.
package main
