package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
)

// gatewayHandler serves etcd's JSON gateway (/v3/kv/range, /v3/watch,
// /v3/lease/grant, ...; POST with a JSON body; bytes as base64, 64-bit
// integers as strings, proto field names, zero values omitted, as etcd
// 3.6) by calling the member's own gRPC services through conn; /v3beta/
// paths are rewritten to /v3/ as etcd does. The Authorization header (the
// token /v3/auth/authenticate returned) reaches the services as the
// "token" metadata, as the Go client sends it.
func gatewayHandler(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		},
	}), runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
		if tok := r.Header.Get("Authorization"); tok != "" {
			return metadata.Pairs(rpctypes.TokenFieldNameGRPC, tok)
		}
		return nil
	}))
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler, gw.RegisterAuthHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			return nil, err
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v3beta/") {
			r.URL.Path = "/v3/" + strings.TrimPrefix(r.URL.Path, "/v3beta/")
		}
		mux.ServeHTTP(w, r)
	}), nil
}
