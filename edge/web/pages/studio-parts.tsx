import type { ImageStatus } from "../../../db/schema";
import type { EarningsReport } from "../../services/commerce/earnings";
import { money } from "../components";

/** How the studio names each image status (studio.js uses the same words). */
export const STATUS_LABELS: Record<ImageStatus, string> = {
  processing: "Processing",
  approved: "Approved",
  pending_review: "In review",
  rejected: "Refused",
  processing_failed: "Failed",
};

const LINKS: [string, string][] = [
  ["/studio", "Dashboard"],
  ["/studio/upload", "Upload"],
  ["/studio/portfolio", "Portfolio"],
  ["/studio/earnings", "Earnings"],
  ["/studio/payouts", "Payouts"],
];

/** The studio's own menu; the current page is marked for screen readers. */
export function StudioNav({ current }: { current: string }) {
  return (
    <nav aria-label="Studio" class="studio-nav">
      <ul>
        {LINKS.map(([href, label]) => (
          <li>
            <a href={href} aria-current={href === current ? "page" : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** An image's status as a badge; an upload still waiting for its bytes reads "Uploading". */
export function StatusBadge({ status, stage }: { status: ImageStatus; stage?: string }) {
  const label = status === "processing" && stage === "awaiting_upload" ? "Uploading" : STATUS_LABELS[status];
  return (
    <span class={`badge ${status}`} data-status={status}>
      {label}
    </span>
  );
}

const CHART = { width: 640, height: 220, top: 16, bottom: 28, left: 8, right: 8 };

/**
 * Earnings by month as an inline SVG bar chart, drawn on the server: one bar per month, its height
 * the month's total (pending + available + paid; a month that nets below zero draws no bar). The
 * table beside it carries the same figures for screen readers, so the chart is hidden from them.
 */
export function EarningsChart({ periods, currency }: { periods: EarningsReport["periods"]; currency: string }) {
  const totals = periods.map((p) => ({ period: p.period, cents: p.pendingCents + p.availableCents + p.paidCents }));
  const max = Math.max(1, ...totals.map((t) => t.cents));
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const slot = (CHART.width - CHART.left - CHART.right) / Math.max(1, totals.length);
  const barWidth = Math.max(4, Math.min(48, slot * 0.7));
  return (
    <svg class="chart" viewBox={`0 0 ${CHART.width} ${CHART.height}`} aria-hidden="true" focusable="false" data-chart>
      <line x1={CHART.left} x2={CHART.width - CHART.right} y1={CHART.height - CHART.bottom} y2={CHART.height - CHART.bottom} class="axis" />
      {totals.map((t, i) => {
        const h = Math.max(0, Math.round((t.cents / max) * plotHeight));
        const x = CHART.left + i * slot + (slot - barWidth) / 2;
        const y = CHART.height - CHART.bottom - h;
        return (
          <g>
            <rect x={x.toFixed(1)} y={y} width={barWidth.toFixed(1)} height={h} class="bar">
              <title>{`${t.period}: ${money(t.cents, currency)}`}</title>
            </rect>
            <text x={(x + barWidth / 2).toFixed(1)} y={CHART.height - 10} text-anchor="middle">
              {t.period.slice(2)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
