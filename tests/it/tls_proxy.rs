//! What the tests' TLS proxies in front of `docker-registry` share: serving the registry's own
//! certificate on 127.0.0.1 (so the registry's CA trusts the proxy), a runtime of their own (so
//! they keep serving while a test blocks on a CLI run), and forwarding a request to the
//! registry on a fresh TLS connection with the response streaming back.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub type Failure = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, Failure>;

/// The way to the registry.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    connector: TlsConnector,
}

impl Upstream {
    /// Send one request to the registry on a fresh TLS connection; the response streams back.
    pub async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, Failure> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = self.connector.connect(name, tcp).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(req).await?;
        Ok(response.map(|b| b.map_err(Failure::from).boxed()))
    }
}

/// A running proxy; stopped on drop.
pub struct Running {
    pub host: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The way to the registry at `upstream` whose files (`server.crt`, `server.key`, `ca.crt`)
/// are in `dir`, and the acceptor that serves its certificate.
pub fn tls(dir: &Path, upstream: &str) -> (TlsAcceptor, Upstream) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = vec![CertificateDer::from_pem_file(dir.join("server.crt")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let upstream = Upstream {
        addr: upstream.parse().unwrap(),
        connector: TlsConnector::from(Arc::new(client)),
    };
    (TlsAcceptor::from(Arc::new(server)), upstream)
}

/// Serve `handle` on 127.0.0.1 with `acceptor`, on a thread and runtime of its own. A handler
/// error becomes a 502 naming it.
pub fn start<S, F, Fut>(acceptor: TlsAcceptor, state: Arc<S>, handle: F) -> Running
where
    S: Send + Sync + 'static,
    F: Fn(Request<Incoming>, Arc<S>) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Failure>> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let serve = async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else { continue };
                    let (acceptor, state) = (acceptor.clone(), state.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(handle(req, state).await.unwrap_or_else(|e| {
                                    Response::builder()
                                        .status(StatusCode::BAD_GATEWAY)
                                        .body(full(Bytes::from(format!("test proxy: {e}"))))
                                        .unwrap()
                                }))
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            };
            tokio::select! {
                _ = stopped => {}
                () = serve => {}
            }
        });
    });
    Running {
        host,
        stop: Some(stop),
        thread: Some(thread),
    }
}

pub fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|n| match n {}).boxed()
}
