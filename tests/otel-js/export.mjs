// The real OpenTelemetry JavaScript SDK exporting GenAI telemetry to agentrail serve
// over OTLP/HTTP JSON (run by tests/integration/test_otel_js.sh).
//
//   node export.mjs http://127.0.0.1:PORT
//
// An agent run as the GenAI semantic conventions describe it: an invoke_agent
// span with a chat child and an execute_tool child that fails, an ERROR log
// record emitted inside the tool span, and one more agent span whose name is
// too long for the log (answered as an OTLP partial success). The spans are
// then exported a second time, as a client would retry. Times are fixed so
// the test can check every timestamp. Prints what it did as one JSON object.
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, diag, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

const base = process.argv[2];
if (!base) {
  console.error('usage: node export.mjs http://HOST:PORT');
  process.exit(64);
}
const headers = process.env.AGENTRAIL_TOKEN ? { Authorization: `Bearer ${process.env.AGENTRAIL_TOKEN}` } : {};

// What the SDK itself reports (a partial success is logged as a warning).
const diagnostics = [];
const keep = (level) => (...args) => diagnostics.push(`${level}: ${args.map(String).join(' ')}`);
diag.setLogger(
  { error: keep('error'), warn: keep('warn'), info: () => {}, debug: () => {}, verbose: () => {} },
  DiagLogLevel.WARN,
);

// An exporter as the SDK uses it, recording each export's result and what it carried.
class Recording {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
    this.items = [];
  }
  export(items, done) {
    this.items.push(...items);
    this.inner.export(items, (result) => {
      this.results.push({ code: result.code, error: result.error ? String(result.error) : null });
      done(result);
    });
  }
  forceFlush() {
    return this.inner.forceFlush();
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

const resource = resourceFromAttributes({ 'service.name': 'otel-js-agent', 'service.version': '0.9.0' });
const spanExporter = new Recording(new OTLPTraceExporter({ url: `${base}/v1/traces`, headers }));
const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(spanExporter)] });
const logExporter = new Recording(new OTLPLogExporter({ url: `${base}/v1/logs`, headers }));
const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: logExporter })] });
const tracer = tracerProvider.getTracer('weather-agent', '1.4.2');
const logger = loggerProvider.getLogger('weather-agent', '1.4.2');

const T0 = 1767225600; // 2026-01-01T00:00:00Z
const at = (s, ns = 0) => [T0 + s, ns];
const conversation = 'conv-js-1';

const agent = tracer.startSpan('invoke_agent WeatherBot', {
  kind: SpanKind.INTERNAL,
  startTime: at(0),
  attributes: {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'WeatherBot',
    'gen_ai.agent.id': 'agent-42',
    'gen_ai.agent.version': '1.0.3',
    'gen_ai.conversation.id': conversation,
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
  },
});
const inAgent = trace.setSpan(ROOT_CONTEXT, agent);

const chat = tracer.startSpan('chat gpt-4o-mini', {
  kind: SpanKind.CLIENT,
  startTime: at(0, 100000000),
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
    'gen_ai.response.finish_reasons': ['tool_calls'],
    'gen_ai.request.temperature': 0.25,
    'gen_ai.usage.input_tokens': 321,
    'gen_ai.usage.output_tokens': 54,
    'gen_ai.conversation.id': conversation,
    'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] }]),
  },
}, inAgent);
chat.end(at(1, 350000000));

const tool = tracer.startSpan('execute_tool get_weather', {
  kind: SpanKind.INTERNAL,
  startTime: at(1, 400000000),
  attributes: {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'get_weather',
    'gen_ai.tool.call.id': 'call_js_1',
    'gen_ai.tool.type': 'function',
    'gen_ai.tool.call.arguments': JSON.stringify({ city: 'Paris' }),
    'gen_ai.conversation.id': conversation,
  },
}, inAgent);
tool.recordException(new Error('weather API timed out'), at(1, 630000000));
tool.setStatus({ code: SpanStatusCode.ERROR, message: 'weather API timed out' });
logger.emit({
  timestamp: at(1, 640000000),
  severityNumber: SeverityNumber.ERROR,
  severityText: 'ERROR',
  body: 'get_weather failed: weather API timed out',
  attributes: { 'gen_ai.agent.name': 'WeatherBot', 'gen_ai.conversation.id': conversation },
  context: trace.setSpan(ROOT_CONTEXT, tool),
});
tool.end(at(1, 650000000));

// An agent whose name is longer than an actor may be: refused alone.
const tooLong = 'x'.repeat(300);
const refused = tracer.startSpan(`invoke_agent ${tooLong}`, {
  startTime: at(1, 700000000),
  attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': tooLong },
}, inAgent);
refused.end(at(1, 800000000));

agent.setAttribute('gen_ai.usage.input_tokens', 321);
agent.setAttribute('gen_ai.usage.output_tokens', 54);
agent.setStatus({ code: SpanStatusCode.OK });
agent.end(at(2));

await tracerProvider.forceFlush();
await loggerProvider.forceFlush();

// A retry: the same spans exported again by a fresh exporter.
const retry = new OTLPTraceExporter({ url: `${base}/v1/traces`, headers });
const retryResult = await new Promise((resolve) => retry.export(spanExporter.items, resolve));

await tracerProvider.shutdown();
await loggerProvider.shutdown();
await retry.shutdown();

const ids = (s) => ({ traceId: s.spanContext().traceId, spanId: s.spanContext().spanId });
console.log(JSON.stringify({
  traceId: agent.spanContext().traceId,
  spans: { agent: ids(agent).spanId, chat: ids(chat).spanId, tool: ids(tool).spanId, refused: ids(refused).spanId },
  spansExported: spanExporter.items.length,
  spanResults: spanExporter.results,
  logResults: logExporter.results,
  retryResult: { code: retryResult.code, error: retryResult.error ? String(retryResult.error) : null },
  diagnostics,
}));
