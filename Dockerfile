# A minimal image around the static musl binary. Nothing is compiled or pulled here: the release
# workflow puts the prebuilt binaries and a CA bundle into dist/ first, e.g.
#   cargo zigbuild --release --locked --target x86_64-unknown-linux-musl
#   mkdir -p dist/linux-amd64
#   cp target/x86_64-unknown-linux-musl/release/marketplace-publish dist/linux-amd64/
#   cp /etc/ssl/certs/ca-certificates.crt dist/
#   docker buildx build --platform linux/amd64 -t marketplace-publish .
# (dist/linux-arm64/ holds the aarch64-unknown-linux-musl binary for linux/arm64.)
FROM scratch

# Set by BuildKit for each --platform; selects the binary built for that architecture.
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/marketplace-publish/marketplace-publish

LABEL org.opencontainers.image.title="marketplace-publish" \
      org.opencontainers.image.description="Publish an Azure Marketplace offer from CI through the Cloud Partner Portal API" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"

# The program talks TLS to the API and to Entra; scratch has no trust store of its own.
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

COPY --chmod=0555 dist/linux-${TARGETARCH}/marketplace-publish /marketplace-publish

# No root needed: the program only reads its environment and writes to stdout/stderr and, when
# asked, the result file (mount a writable directory for it).
USER 65532:65532
ENTRYPOINT ["/marketplace-publish"]
