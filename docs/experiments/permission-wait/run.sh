#!/bin/bash
# How long does the real CLI wait for an unanswered can_use_tool request?
cd "$(dirname "$0")"
python3 mock.py & MOCK=$!
sleep 1
PORT=$(cat port)
mkdir -p home work
start=$(date +%s)
( printf '%s\n' '{"type":"user","message":{"role":"user","content":"run it"},"parent_tool_use_id":null,"session_id":""}'; sleep 2400 ) | \
  HOME=$PWD/home ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT ANTHROPIC_API_KEY=test-key CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_RETRIES=0 \
  timeout 2400 ${CLAUDE_BIN:-../../../.tools/claude-code/node_modules/.bin/claude} --input-format stream-json --output-format stream-json --verbose --permission-prompt-tool stdio \
  2> stderr.txt | while IFS= read -r line; do echo "$(( $(date +%s) - start ))s $line" | cut -c1-300 >> stdout.log; done
echo "exit after $(( $(date +%s) - start ))s" >> stdout.log
kill $MOCK
