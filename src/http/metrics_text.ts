/**
 * @module
 * The job's metrics in the Prometheus text exposition format (version 0.0.4).
 */
import type { Histogram } from "../job_metrics.ts";

/** Accumulates metric families; each family is written once with its HELP and TYPE. */
export class MetricsText {
  #lines: string[] = [];

  counter(name: string, help: string, samples: Array<[Record<string, string>, number]> | number): this {
    return this.#family(name, "counter", help, samples);
  }

  gauge(name: string, help: string, samples: Array<[Record<string, string>, number]> | number): this {
    return this.#family(name, "gauge", help, samples);
  }

  histogram(name: string, help: string, h: Histogram): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    h.bounds.forEach((b, i) => this.#lines.push(`${name}_bucket{le="${b}"} ${h.buckets[i]}`));
    this.#lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
    return this;
  }

  toString(): string {
    return this.#lines.join("\n") + "\n";
  }

  #family(name: string, type: string, help: string, samples: Array<[Record<string, string>, number]> | number): this {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const list = typeof samples === "number" ? [[{}, samples] as [Record<string, string>, number]] : samples;
    for (const [labels, v] of list) this.#lines.push(`${name}${formatLabels(labels)} ${formatValue(v)}`);
    return this;
  }
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
