//! Throughput of the stream-json codec (line splitting + decoding into events) on a
//! realistic mix of CLI output lines, fed in 64 KiB reads as the process adapter does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark"
)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use orchestra_claude::protocol::{Decoded, Line, LineDecoder, decode_line};

fn sample_stream() -> Vec<u8> {
    let init = r#"{"type":"system","subtype":"init","cwd":"/srv/work/project","session_id":"3d3c9fb2-29ca-4a71-b4d6-d26a3e9081a4","tools":["Task","Bash","Glob","Grep","LS","ExitPlanMode","Read","Edit","MultiEdit","Write","NotebookEdit","WebFetch","TodoWrite","WebSearch","BashOutput","KillShell"],"mcp_servers":[],"model":"claude-opus-5-5","permissionMode":"default","slash_commands":["compact","context","cost","init","review"],"apiKeySource":"ANTHROPIC_API_KEY","claude_code_version":"2.1.328","output_style":"default","agents":[],"skills":[],"plugins":[],"uuid":"0b5e3c1e-5a0c-4d7e-9b51-6f3f9a2b7c11"}"#;
    let assistant = r#"{"type":"assistant","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"text","text":"I'll look at the failing test first. The error says the connection pool is exhausted, which usually means a connection is held across an await point. Let me read the repository module and the test to confirm before changing anything."}],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12543,"cache_creation_input_tokens":0,"cache_read_input_tokens":10240,"output_tokens":64,"service_tier":"standard"}},"parent_tool_use_id":null,"session_id":"3d3c9fb2-29ca-4a71-b4d6-d26a3e9081a4","uuid":"7f1d7d0e-2d0b-4c53-8d2f-8f1c2a0e9b33","timestamp":"2026-11-27T00:00:00.000Z","request_id":"req_01"}"#;
    let tool_use = r#"{"type":"assistant","message":{"id":"msg_02","type":"message","role":"assistant","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"toolu_01A","name":"Bash","input":{"command":"cargo test -p orchestra-infrastructure --lib db:: 2>&1 | tail -40","description":"Run the database tests"}}],"stop_reason":null,"usage":{"input_tokens":12700,"output_tokens":48}},"parent_tool_use_id":null,"session_id":"3d3c9fb2-29ca-4a71-b4d6-d26a3e9081a4","uuid":"8e2e8e1f-3e1c-5d64-9e3a-9a2d3b1f0c44"}"#;
    let tool_result = r#"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_01A","type":"tool_result","content":"running 12 tests\ntest db::connection_string::tests::the_seeds_development_string_is_sqlite ... ok\ntest db::connection_string::tests::urls_are_understood ... ok\ntest db::migrations::tests::down_sql_comes_newest_first ... ok\n\ntest result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.04s","is_error":false}]},"parent_tool_use_id":null,"session_id":"3d3c9fb2-29ca-4a71-b4d6-d26a3e9081a4","uuid":"9f3f9f2a-4f2d-6e75-af4b-ab3e4c2a1d55","timestamp":"2026-11-27T00:00:01.000Z","tool_use_result":{"stdout":"running 12 tests","stderr":"","interrupted":false,"isImage":false}}"#;
    let result = r#"{"duration_api_ms":2600,"stop_reason":"end_turn","session_id":"3d3c9fb2-29ca-4a71-b4d6-d26a3e9081a4","total_cost_usd":0.050532,"usage":{"input_tokens":12543,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":18,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard"},"modelUsage":{"claude-opus-5-5":{"inputTokens":12543,"outputTokens":18,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.050532,"contextWindow":1000000,"maxOutputTokens":128000}},"permission_denials":[],"terminal_reason":"completed","is_error":false,"num_turns":3,"subtype":"success","api_error_status":null,"result":"The pool was held across an await in the repository; I moved the query onto the blocking pool and the tests pass.","type":"result","duration_ms":3120,"uuid":"a04a0a3b-5a3e-7f86-b05c-bc4f5d3b2e66"}"#;
    let mut out = Vec::new();
    while out.len() < 8 * 1024 * 1024 {
        for line in [init, assistant, tool_use, tool_result, assistant, result] {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

fn decode_all(stream: &[u8]) -> usize {
    let mut decoder = LineDecoder::new(64 * 1024 * 1024);
    let mut events = 0;
    for chunk in stream.chunks(64 * 1024) {
        decoder.push(chunk, |line| {
            if let Line::Complete(b) = line
                && let Decoded::Events(e) = decode_line(b)
            {
                events += e.len();
            }
        });
    }
    events
}

fn codec(c: &mut Criterion) {
    let stream = sample_stream();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.sample_size(20);
    group.bench_with_input(
        BenchmarkId::new(
            "decode_stream",
            format!("{} MiB", stream.len() / (1024 * 1024)),
        ),
        &stream,
        |b, s| {
            b.iter(|| decode_all(std::hint::black_box(s)));
        },
    );
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
