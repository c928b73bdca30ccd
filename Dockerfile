# A small image that runs a Rhizome node: Deno's distroless image (no shell, no package manager),
# the program's sources and its npm packages; nothing else. Build and run:
#
#   docker build -t rhizome .                    # or: podman build -t rhizome .
#   docker run -d --name rhizome -v rhizome-data:/data -p 7447:7447/udp -p 7447:7447/tcp rhizome
#   docker run --rm --network container:rhizome -v rhizome-data:/data rhizome status
#
# Words after the image name replace CMD ("run"): `docker run … rhizome run --seed`. Settings
# come from /data/config.toml or RHIZOME_* variables (`-e RHIZOME_NODE_BOOTSTRAP=rhz://…`).
# docs/guide.md ("Container") has more.

ARG DENO_VERSION=2.9.6

FROM denoland/deno:debian-${DENO_VERSION} AS build
WORKDIR /app
# Dependencies first, so a change to the sources reuses this layer. The lock is frozen and the
# install scripts of lmdb and msgpackr-extract are denied in deno.json (both ship prebuilt binaries).
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY src ./src
# Every module must resolve and the command line start, or the build fails here.
RUN deno cache --frozen main.ts \
  && deno run --node-modules-dir=manual --no-prompt --allow-read --allow-write --allow-env \
    --allow-ffi --allow-net --allow-sys main.ts version \
  && mkdir -p /out/data /out/deno-dir

FROM denoland/deno:distroless-${DENO_VERSION}
COPY --from=build /app /app
# The data volume and Deno's cache, owned by the unprivileged user the node runs as.
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build --chown=65532:65532 /out/deno-dir /deno-dir
ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    RHIZOME_DATA_DIR=/data
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
# The DHT's UDP port and the stream transport's TCP port of the same number (node.listen).
EXPOSE 7447/udp 7447/tcp
# `rhizome status` asks the node's control API (loopback, inside the container) how it is.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["deno", "run", "--node-modules-dir=manual", "--no-prompt", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-net", "--allow-sys", "/app/main.ts", "status", "--data-dir", "/data"]
# SIGTERM (docker stop) stops the node cleanly within 5 seconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["deno", "run", "--node-modules-dir=manual", "--no-prompt", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-net", "--allow-sys", "/app/main.ts"]
CMD ["run"]
