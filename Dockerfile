# luawrap in front of nginx, in one image (docs/container.md).
#
#   docker build -t luawrap-nginx .
#   docker run --rm -p 8080:8080 --cap-drop ALL --cap-add SYS_PTRACE luawrap-nginx
#
# Build stage: luawrap needs cgo (libseccomp-golang links libseccomp).
FROM golang:1.26-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags=-s -o /out/luawrap ./cmd/luawrap

# Final stage: the stock nginx image plus luawrap, its runtime library and
# the example scripts. nginx runs as the image's nginx user (uid 101) on
# port 8080, so luawrap and every nginx process share one user and no
# capability is needed (deploy/docker/nginx.conf).
FROM nginx:1.27-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp2 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/luawrap /usr/local/bin/luawrap
COPY examples/scripts/*.lua /etc/luawrap/
COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf
USER 101:101
EXPOSE 8080
# luawrap is PID 1: it forwards signals to nginx (the base image's
# STOPSIGNAL SIGQUIT is a graceful stop), reaps orphans and exits with
# nginx's status.
ENTRYPOINT ["luawrap", "--script", "/etc/luawrap/http_strict.lua", "--"]
CMD ["nginx", "-g", "daemon off;"]
