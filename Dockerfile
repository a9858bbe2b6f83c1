# esxlcm in a container: build stage (the release profile), then a small Debian runtime
# running as a non-root user, the data directory a volume.
#
#   docker build -t esxlcm .
#   docker run -d -p 8443:8443 -p 8080:8080 -v esxlcm-data:/var/lib/esxlcm \
#       -e ESXLCM_ADMIN_USER=admin -e ESXLCM_ADMIN_PASSWORD='change me' esxlcm
#
# Not exercised in CI: the CI machines have no container runtime (README, "Packaging").
# /metrics answers loopback clients only, which from outside a container means never:
# scrape from a sidecar sharing the network namespace, or use /healthz and /readyz.

FROM rust:1.95-trixie AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p esxlcm

FROM debian:trixie-slim
# ca-certificates: the system roots HTTPS depots are checked against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/esxlcm --shell /usr/sbin/nologin esxlcm \
    && install -d -o esxlcm -g esxlcm -m 0700 /var/lib/esxlcm
COPY --from=build /src/target/release/esxlcm /usr/bin/esxlcm
USER esxlcm:esxlcm
WORKDIR /var/lib/esxlcm
VOLUME ["/var/lib/esxlcm"]
# The API and depots over HTTPS; the depots over plain HTTP for hosts.
EXPOSE 8443 8080
ENTRYPOINT ["/usr/bin/esxlcm"]
CMD ["serve", "--data-dir", "/var/lib/esxlcm", "--listen", "0.0.0.0:8443", "--hosts-listen", "0.0.0.0:8080"]
