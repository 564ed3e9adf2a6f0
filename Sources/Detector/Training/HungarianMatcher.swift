/// Minimum-cost assignment (the job of scipy's `linear_sum_assignment`), by the shortest-augmenting-path Hungarian
/// method with potentials: O(n²·m) for an n × m cost matrix with n ≤ m.
public enum HungarianMatcher {
    /// For a cost matrix (rows × columns, either may be larger), the optimal (row, column) pairs, sorted by row;
    /// min(rows, columns) pairs.
    public static func solve(_ cost: [[Double]]) -> [(row: Int, column: Int)] {
        let rows = cost.count, columns = cost.first?.count ?? 0
        guard rows > 0, columns > 0 else { return [] }
        if rows > columns {
            let transposed = (0..<columns).map { c in (0..<rows).map { cost[$0][c] } }
            return solve(transposed).map { (row: $0.column, column: $0.row) }.sorted { $0.row < $1.row }
        }
        // 1-based arrays as in the classic formulation: u, v potentials; p[j] = row matched to column j.
        let n = rows, m = columns
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: m + 1)
        var p = [Int](repeating: 0, count: m + 1), way = [Int](repeating: 0, count: m + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Double](repeating: .infinity, count: m + 1)
            var used = [Bool](repeating: false, count: m + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...m where !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j] { minv[j] = cur; way[j] = j0 }
                    if minv[j] < delta { delta = minv[j]; j1 = j }
                }
                for j in 0...m {
                    if used[j] { u[p[j]] += delta; v[j] -= delta } else { minv[j] -= delta }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var pairs: [(row: Int, column: Int)] = []
        for j in 1...m where p[j] != 0 { pairs.append((row: p[j] - 1, column: j - 1)) }
        return pairs.sorted { $0.row < $1.row }
    }
}
