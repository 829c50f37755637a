#pragma once

#include <string_view>

namespace medallion::serve {

/// The status page served at `/`: one HTML document with its style and script inline (no
/// assets from elsewhere, no build step). The script polls /status every second and draws
/// the tables and small SVG charts.
std::string_view StatusPageHtml();

}  // namespace medallion::serve
