import FleetObservability
import Testing

@Suite struct PrometheusTextTests {
    @Test func rendersHelpTypeAndSamples() {
        let text = PrometheusText.render([
            MetricFamily("fleetgate_agent_sessions", .gauge, help: "Sessions held.", 3),
            MetricFamily("fleetgate_agent_messages_dropped_total", .counter, help: "Dropped, by reason.", samples: [
                .init([("reason", "queue_full")], .unsigned(2)), .init([("reason", "expired")], .unsigned(0))]),
        ])
        #expect(text == """
            # HELP fleetgate_agent_sessions Sessions held.
            # TYPE fleetgate_agent_sessions gauge
            fleetgate_agent_sessions 3
            # HELP fleetgate_agent_messages_dropped_total Dropped, by reason.
            # TYPE fleetgate_agent_messages_dropped_total counter
            fleetgate_agent_messages_dropped_total{reason="queue_full"} 2
            fleetgate_agent_messages_dropped_total{reason="expired"} 0

            """)
    }

    @Test func escapesLabelValuesAndHelp() {
        let text = PrometheusText.render([
            MetricFamily("m", .gauge, help: "a \\ b\nc \"q\"", samples: [.init([("l", "x\"y\\z\nw")], 1)]),
        ])
        #expect(text == "# HELP m a \\\\ b\\nc \"q\"\n# TYPE m gauge\nm{l=\"x\\\"y\\\\z\\nw\"} 1\n")
    }

    @Test func writesLargeCountersExactlyAndRealsInPrometheusSpelling() {
        let text = PrometheusText.render([
            MetricFamily("big_total", .counter, help: "h", .unsigned(UInt64.max)),
            MetricFamily("r", .gauge, help: "h", samples: [.init([("k", "a")], .real(0.5)), .init([("k", "b")], .real(.infinity)),
                                                          .init([("k", "c")], .real(-.infinity)), .init([("k", "d")], .real(.nan))]),
        ])
        #expect(text.contains("big_total 18446744073709551615\n"))
        #expect(text.contains("r{k=\"a\"} 0.5\nr{k=\"b\"} +Inf\nr{k=\"c\"} -Inf\nr{k=\"d\"} NaN\n"))
    }

    @Test func namesFollowTheExpositionGrammar() {
        #expect(PrometheusText.isValidMetricName("fleetgate_agent_x:rate5m"))
        #expect(!PrometheusText.isValidMetricName("9lives"))
        #expect(!PrometheusText.isValidMetricName("a-b"))
        #expect(!PrometheusText.isValidMetricName(""))
        #expect(PrometheusText.isValidLabelName("reason"))
        #expect(!PrometheusText.isValidLabelName("__name__"))
        #expect(!PrometheusText.isValidLabelName("a:b"))
    }
}
