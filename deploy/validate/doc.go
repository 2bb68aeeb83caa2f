// Package validate checks the deployment files of luawrap, without a
// container engine or a cluster: the Dockerfile at the repository root
// (parsed and linted by BuildKit's own Dockerfile parser, its stages,
// build command, entrypoint and what its COPY instructions take from the
// build context) and the Kubernetes manifests in deploy/k8s (each
// document decoded strictly into the k8s.io/api types, so an unknown or
// misspelled field fails, then checked against each other, the image and
// the nginx configuration).
//
// It is a module of its own so that the main module's go.mod does not
// carry BuildKit and the Kubernetes API types. Run it from this
// directory:
//
//	cd deploy/validate && go test ./...
package validate
