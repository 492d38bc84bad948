import Foundation

/// `fleetctl stats --plot FILE.svg`: read and written rates over the period, one line per relay
/// and a thicker one for the fleet, in two panels sharing the time axis. Plain SVG 1.1 that any
/// browser or image viewer shows; times in UTC.
public enum StatsPlot {
    /// The bin width for a period: 15 minutes up to two days, hours up to two weeks, else days.
    public static func binWidth(for seconds: Double) -> Int64 {
        seconds <= 2 * 86_400 ? 900 : seconds <= 14 * 86_400 ? 3600 : 86_400
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf"]

    /// Renders `series` (bin starts, and per relay (read, written) bytes per bin of `width`).
    public static func svg(title: String, starts: [Int64], width: Int64, relays: [(String, [(UInt64, UInt64)])]) -> String {
        let plotW = 760.0, panelH = 230.0, left = 80.0, top = 50.0, gap = 60.0, legendW = 180.0
        let totalW = left + plotW + 20 + legendW, totalH = top + 2 * panelH + gap + 50
        var out = [##"<?xml version="1.0" encoding="UTF-8"?>"##,
                   ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(totalW))" height="\##(Int(totalH))" viewBox="0 0 \##(Int(totalW)) \##(Int(totalH))" font-family="sans-serif" font-size="12">"##,
                   ##"<rect width="100%" height="100%" fill="white"/>"##,
                   ##"<text x="\##(left)" y="24" font-size="16" font-weight="bold">\##(xml(title))</text>"##]
        let t0 = Double(starts.first ?? 0), t1 = Double((starts.last ?? 0) + width)
        func x(_ t: Double) -> Double { t1 > t0 ? left + (t - t0) / (t1 - t0) * plotW : left }
        var fleet = Array(repeating: (0.0, 0.0), count: starts.count)
        for (_, values) in relays {
            for (i, v) in values.enumerated() { fleet[i].0 += Double(v.0); fleet[i].1 += Double(v.1) }
        }
        let lines: [(String, String, Double, [(Double, Double)])] =
            relays.enumerated().map { i, r in (r.0, palette[i % palette.count], 1.5, r.1.map { (Double($0.0), Double($0.1)) }) }
            + (relays.count > 1 ? [("fleet", "#000000", 2.5, fleet)] : [])
        for panel in 0..<2 {
            let y0 = top + Double(panel) * (panelH + gap)
            let pick: ((Double, Double)) -> Double = panel == 0 ? { $0.0 } : { $0.1 }
            let peak = lines.flatMap { $0.3.map { pick($0) / Double(width) } }.max() ?? 0
            let (ticks, maxY) = niceTicks(peak)
            func y(_ rate: Double) -> Double { y0 + panelH - (maxY > 0 ? rate / maxY * panelH : 0) }
            out.append(##"<text x="\##(left)" y="\##(y0 - 8)" font-weight="bold">\##(panel == 0 ? "read" : "written") (bytes/s, mean per \##(durationLabel(width)) bin)</text>"##)
            for tick in ticks {
                let ty = y(tick)
                out.append(##"<line x1="\##(left)" y1="\##(r(ty))" x2="\##(left + plotW)" y2="\##(r(ty))" stroke="#dddddd"/>"##)
                out.append(##"<text x="\##(left - 6)" y="\##(r(ty + 4))" text-anchor="end">\##(rateLabel(tick))</text>"##)
            }
            out.append(##"<rect x="\##(left)" y="\##(y0)" width="\##(plotW)" height="\##(panelH)" fill="none" stroke="#333333"/>"##)
            for tick in timeTicks(from: t0, to: t1) {
                let tx = x(tick)
                out.append(##"<line x1="\##(r(tx))" y1="\##(y0)" x2="\##(r(tx))" y2="\##(y0 + panelH)" stroke="#eeeeee"/>"##)
                out.append(##"<text x="\##(r(tx))" y="\##(y0 + panelH + 16)" text-anchor="middle">\##(timeLabel(tick, span: t1 - t0))</text>"##)
            }
            for (_, color, stroke, values) in lines where !values.isEmpty {
                let pts = values.enumerated().map { i, v in
                    "\(r(x(Double(starts[i]) + Double(width) / 2))),\(r(y(pick(v) / Double(width))))"
                }
                out.append(##"<polyline fill="none" stroke="\##(color)" stroke-width="\##(stroke)" points="\##(pts.joined(separator: " "))"/>"##)
            }
        }
        let lx = left + plotW + 20
        out.append(##"<text x="\##(lx)" y="\##(top + 4)" font-weight="bold">relays</text>"##)
        for (i, line) in lines.enumerated() {
            let ly = top + 22 + Double(i) * 18
            out.append(##"<line x1="\##(lx)" y1="\##(ly - 4)" x2="\##(lx + 24)" y2="\##(ly - 4)" stroke="\##(line.1)" stroke-width="\##(line.2 + 1)"/>"##)
            out.append(##"<text x="\##(lx + 30)" y="\##(ly)">\##(xml(line.0))</text>"##)
        }
        out.append(##"<text x="\##(left)" y="\##(totalH - 12)" fill="#555555">UTC</text>"##)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Ticks at 1, 2 or 5 × 10^n covering `peak`, and the axis maximum.
    static func niceTicks(_ peak: Double) -> ([Double], Double) {
        guard peak > 0 else { return ([0], 1) }
        let raw = peak / 4
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        let top = ceil(peak / step) * step
        return (stride(from: 0, through: top + step / 2, by: step).map { $0 }, top)
    }

    static func timeTicks(from t0: Double, to t1: Double) -> [Double] {
        let span = t1 - t0
        guard span > 0 else { return [] }
        let steps: [Double] = [900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400]
        let step = steps.first { span / $0 <= 8 } ?? 30 * 86_400
        let first = ceil(t0 / step) * step
        return stride(from: first, through: t1, by: step).map { $0 }
    }

    static func timeLabel(_ t: Double, span: Double) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = span <= 86_400 ? "HH:mm" : span <= 14 * 86_400 ? "MM-dd HH:mm" : "yyyy-MM-dd"
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static func rateLabel(_ v: Double) -> String {
        let units = ["B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"]
        var x = v, i = 0
        while x >= 1024, i < units.count - 1 { x /= 1024; i += 1 }
        return x == x.rounded() ? "\(Int(x)) \(units[i])" : String(format: "%.1f %@", x, units[i])
    }

    static func durationLabel(_ s: Int64) -> String { s % 86_400 == 0 ? "\(s / 86_400) d" : s % 3600 == 0 ? "\(s / 3600) h" : "\(s / 60) min" }

    static func r(_ v: Double) -> String { String(format: "%.1f", v) }

    static func xml(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
