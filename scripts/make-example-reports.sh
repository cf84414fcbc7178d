#!/usr/bin/env bash
# Regenerates the approved example reports in reports/ from reports/cases.txt.
# Run after a change to a renderer or a message, review `git diff reports/`, commit.
# A `train` case also keeps its run directory (report.json, rank<k>.json) and the diff of
# ranks 0 and 1; every case gets `explain.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
metaguard="${METAGUARD:-build/metaguard}"
declare -A extension=([text]=txt [json]=json [md]=md [html]=html [junit]=xml)
while read -r folder command; do
  [[ -z "$folder" || "$folder" == \#* ]] && continue
  rm -rf "reports/$folder"
  mkdir -p "reports/$folder"
  for format in text json md html junit; do
    # Exit 1 (an error finding) is the point of the faulty examples.
    if [[ "$command" == train\ * ]]; then
      # A run's report goes to stdout; --out is its run directory (rank reports included).
      $metaguard $command --out "reports/$folder" --format "$format" \
        > "reports/$folder/report.${extension[$format]}" 2>/dev/null || [[ $? -eq 1 ]]
    else
      $metaguard $command --format "$format" --out "reports/$folder/report.${extension[$format]}" || [[ $? -eq 1 ]]
    fi
  done
  if [[ -f "reports/$folder/rank1.json" ]]; then
    $metaguard diff "reports/$folder/rank0.json" "reports/$folder/rank1.json" \
      > "reports/$folder/diff-rank0-rank1.txt" || [[ $? -eq 1 ]]
    explain_input="reports/$folder"
  else
    explain_input="reports/$folder/report.json"
  fi
  $metaguard explain "$explain_input" > "reports/$folder/explain.txt" || [[ $? -eq 1 ]]
  # Paths are kept relative to the repository root, as the comparison test blanks them.
  sed -i -e "s|$PWD/||g" -e "s|$(pwd -P)/||g" "reports/$folder"/*
done < reports/cases.txt
echo "example reports regenerated; review with: git diff reports/"
