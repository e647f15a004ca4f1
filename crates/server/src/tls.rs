//! TLS for the listener: rustls with a certificate resolver that reloads the certificate
//! and key files on SIGHUP (a bad pair is refused and the old one kept), so certificates
//! rotate without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

fn load(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("cannot read the certificate {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("the certificate {} is not PEM", files.cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no certificate",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("cannot read the private key {}", files.key.display()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .with_context(|| format!("the private key {} is not usable", files.key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    certified
        .keys_match()
        .with_context(|| "the certificate and the private key do not belong together")?;
    Ok(Arc::new(certified))
}

/// Serves the current certificate; [`Self::reload`] swaps it.
#[derive(Debug)]
pub struct ReloadingResolver {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingResolver {
    /// Loads the files.
    ///
    /// # Errors
    /// When they cannot be read or do not form a certificate and its key.
    pub fn new(files: TlsFiles) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let current = load(&files, &provider)?;
        Ok(Arc::new(Self {
            files,
            provider,
            current: RwLock::new(current),
        }))
    }

    /// Reads the files again; on error the old certificate stays.
    ///
    /// # Errors
    /// Why the new files were refused.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load(&self.files, &self.provider)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The server configuration using this resolver.
    ///
    /// # Errors
    /// When the provider refuses the protocol versions.
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.files.cert
    }
}

impl ResolvesServerCert for ReloadingResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }
}

/// Reloads `resolver` on every SIGHUP until shutdown.
///
/// # Errors
/// When SIGHUP cannot be listened for.
pub fn spawn_reload_on_sighup(
    resolver: Arc<ReloadingResolver>,
    mut shutdown: crate::background::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                got = hup.recv() => if got.is_none() { break },
            }
            // Reading the files is blocking I/O: off the async threads.
            let r = Arc::clone(&resolver);
            let reloaded = tokio::task::spawn_blocking(move || r.reload())
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("the reload task failed: {e}")));
            match reloaded {
                Ok(()) => {
                    tracing::info!(cert = %resolver.cert_path().display(), "TLS certificate reloaded");
                }
                Err(err) => tracing::error!(
                    error = format!("{err:#}"),
                    "TLS certificate not reloaded; the old one stays"
                ),
            }
        }
    }))
}
