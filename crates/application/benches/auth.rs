//! What authentication adds to a request: `Authenticator::authenticate` for a known key
//! (shape check, SHA-256, cache lookup), an unknown well-formed key (the same plus a
//! repository lookup, in memory here) and a malformed one (refused before hashing).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use orchestra_application::keys::{Authenticator, CreateApiKeyHandler};
use orchestra_application::ports::{ApiKeyRepository, Clock, SystemClock};
use orchestra_application::testing::InMemoryApiKeyRepository;
use orchestra_domain::Role;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let repo: Arc<dyn ApiKeyRepository> = Arc::new(InMemoryApiKeyRepository::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (_, key) = rt
        .block_on(CreateApiKeyHandler::new(repo.clone(), clock).handle("bench", Role::Operator))
        .unwrap_or_else(|e| panic!("key: {e}"));
    let auth = Authenticator::new(repo);
    rt.block_on(auth.warm())
        .unwrap_or_else(|e| panic!("warm: {e}"));
    c.bench_function("authenticate a known key (cached)", |b| {
        b.iter(|| rt.block_on(auth.authenticate(&key)).is_ok());
    });
    let unknown = format!("orch_{}", "f".repeat(64));
    c.bench_function("refuse an unknown key", |b| {
        b.iter(|| rt.block_on(auth.authenticate(&unknown)).is_err());
    });
    c.bench_function("refuse a malformed key", |b| {
        b.iter(|| rt.block_on(auth.authenticate("nonsense")).is_err());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
