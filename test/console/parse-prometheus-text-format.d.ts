// Types for parse-prometheus-text-format 1.1.1 (it ships none): the prom2json-shaped result.
declare module 'parse-prometheus-text-format' {
  interface PromSample { value?: string, labels?: Record<string, string>, buckets?: Record<string, string>, quantiles?: Record<string, string>, count?: string, sum?: string }
  interface PromFamily { name: string, help: string, type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED', metrics: PromSample[] }
  export default function parsePrometheusTextFormat (text: string): PromFamily[]
}
